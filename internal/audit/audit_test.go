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
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// TestAuditFlagsActiveKeysOverTheMaxAgeAndNamesTheParameterThatHoldsEach seeds a managed user
// whose key a keyrotor parameter holds and an unmanaged user with an active and an inactive
// key, then audits as if 100 days had passed.
func TestAuditFlagsActiveKeysOverTheMaxAgeAndNamesTheParameterThatHoldsEach(t *testing.T) {
	ctx := context.Background()
	srv, err := motoserver.Start(ctx, motoserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	cfg := srv.AdminConfig()
	iamc, ssmc := iam.NewFromConfig(cfg), ssm.NewFromConfig(cfg)

	newKey := func(user string, tags ...iamtypes.Tag) string {
		t.Helper()
		if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user), Tags: tags}); err != nil {
			t.Fatal(err)
		}
		k, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(k.AccessKey.AccessKeyId)
	}
	managedKey := newKey("signer", iamtypes.Tag{Key: aws.String(rotation.ManagedTagKey), Value: aws.String("true")})
	if _, err := ssmc.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/keyrotor/signer"), Type: ssmtypes.ParameterTypeSecureString, Value: aws.String("sealed"),
		Description: aws.String("keyrotor:" + managedKey),
	}); err != nil {
		t.Fatal(err)
	}
	activeKey := newKey("legacy")
	k2, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("legacy")})
	if err != nil {
		t.Fatal(err)
	}
	inactiveKey := aws.ToString(k2.AccessKey.AccessKeyId)
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
