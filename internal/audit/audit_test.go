package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/internal/audit"
	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// TestAuditFlagsActiveKeysOverTheMaxAgeAndNamesTheParameterThatHoldsEach seeds a managed user
// whose key a keyrotor parameter holds and an unmanaged user with an active and an inactive
// key, then audits as if 100 days had passed.
func TestAuditFlagsActiveKeysOverTheMaxAgeAndNamesTheParameterThatHoldsEach(t *testing.T) {
	ctx := context.Background()
	srv := testutil.Moto(t, motoserver.Options{})
	cfg := srv.AdminConfig()
	iamc, ssmc := iam.NewFromConfig(cfg), ssm.NewFromConfig(cfg)

	managedKey := testutil.CreateUser(t, cfg, "signer", 1, testutil.ManagedTag)[0].AccessKeyID
	if _, err := ssmc.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/keyrotor/signer"), Type: ssmtypes.ParameterTypeSecureString, Value: aws.String("sealed"),
		Description: aws.String("keyrotor:" + managedKey),
	}); err != nil {
		t.Fatal(err)
	}
	legacy := testutil.CreateUser(t, cfg, "legacy", 2)
	activeKey, inactiveKey := legacy[0].AccessKeyID, legacy[1].AccessKeyID
	if _, err := iamc.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("legacy"), AccessKeyId: aws.String(inactiveKey), Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		after    time.Duration
		wantOver []string
	}{
		{"fresh keys are within 90 days", 0, nil},
		{"after 100 days every active key is over, the inactive one is not", 100 * 24 * time.Hour, []string{activeKey, managedKey}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := audit.Run(ctx, iamc, ssmc, audit.Options{Now: func() time.Time { return time.Now().Add(tc.after) }})
			if err != nil {
				t.Fatal(err)
			}
			byID := map[string]audit.Key{}
			var over []string
			for _, k := range r.Keys {
				byID[k.AccessKeyID] = k
				if k.OverMaxAge {
					over = append(over, k.AccessKeyID)
				}
			}
			if len(r.Keys) != 3 || r.Users != 2 {
				t.Fatalf("audit saw %d users and %d keys, want 2 and 3: %+v", r.Users, len(r.Keys), r.Keys)
			}
			if r.OverMaxAge != len(tc.wantOver) {
				t.Errorf("OverMaxAge = %d (%v), want %d (%v)", r.OverMaxAge, over, len(tc.wantOver), tc.wantOver)
			}
			for _, id := range tc.wantOver {
				if !byID[id].OverMaxAge {
					t.Errorf("key %s (%s, %s) not flagged over the max age", id, byID[id].User, byID[id].Status)
				}
			}
			if k := byID[managedKey]; !k.Managed || k.HeldBy != "/keyrotor/signer" {
				t.Errorf("managed key: Managed=%t HeldBy=%q, want true and /keyrotor/signer", k.Managed, k.HeldBy)
			}
			if k := byID[activeKey]; k.Managed || k.HeldBy != "" {
				t.Errorf("unmanaged key: Managed=%t HeldBy=%q, want false and none", k.Managed, k.HeldBy)
			}
		})
	}
}
