package faults

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/keyrotor/keyrotor/internal/harness/invariants"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
)

// TestRetireFailureCauseSaysWhatTheNextRotationDoes fails the retirement of the old key after
// the new one is verified and holds the RetireFailed Cause to what then happens: the next
// rotation finishes this one from its record (issue 24): it adopts the verified key and retires
// the old one itself, whether or not the old key was already deactivated.
func TestRetireFailureCauseSaysWhatTheNextRotationDoes(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 3*time.Minute)
	tests := []struct {
		name   string
		denied string // the IAM action denied once
	}{
		{"deactivating the old key denied", "UpdateAccessKey"},
		{"deleting the deactivated old key denied", "DeleteAccessKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := b.NewTarget(ctx, "retire", Seed{})
			if err != nil {
				t.Fatal(err)
			}
			old := b.heldKey(ctx, t, tg)
			b.Env.Proxy.ClearRules()
			b.Env.Proxy.AddRule(faultproxy.Rule{Service: "iam", Action: tt.denied, Times: 1, Fault: faultproxy.AccessDenied})
			run, err := b.Rotate(ctx, "", Input(tg))
			b.Env.Proxy.ClearRules()
			if err != nil {
				t.Fatal(err)
			}
			path := run.StatePath()
			if run.Status != "FAILED" || path[len(path)-1] != "RetireFailed" {
				t.Fatalf("run ended %s %s %v, want RetireFailed", run.Status, run.Error, path)
			}
			fresh := b.heldKey(ctx, t, tg)
			for _, says := range []string{
				"new key " + fresh, tg.ParameterName, "iam:" + tt.denied, // what happened, what to grant
				"the next rotation of " + tg.UserName + " finishes this one", // what the next rotation does
				"aws iam list-access-keys --user-name " + tg.UserName,
				"aws iam update-access-key --user-name " + tg.UserName + " --access-key-id ",
				"aws iam delete-access-key --user-name " + tg.UserName + " --access-key-id ",
			} {
				if !strings.Contains(run.Cause, says) {
					t.Errorf("the Cause does not say %q:\n%s", says, run.Cause)
				}
			}
			if strings.Contains(run.Cause, "{\"errorMessage\"") {
				t.Errorf("the Cause quotes the Lambda's JSON error document:\n%s", run.Cause)
			}

			next, err := b.Rotate(ctx, "", Input(tg))
			if err != nil {
				t.Fatal(err)
			}
			if next.Status != "SUCCEEDED" {
				t.Fatalf("the next rotation ended %s %q (%s), the Cause said it finishes this one", next.Status, next.Error, next.Cause)
			}
			if keys := b.keysOf(ctx, t, tg); len(keys) != 1 || aws.ToString(keys[0].AccessKeyId) != fresh || b.heldKey(ctx, t, tg) != fresh {
				t.Errorf("after the next rotation %s has keys %v, want only %s (the old key %s retired), held by %s", tg.UserName, keys, fresh, old, tg.ParameterName)
			}
		})
	}
}

// heldKey is the AccessKeyId the parameter holds (keyrotor writes it into the description).
func (b *Bench) heldKey(ctx context.Context, t *testing.T, tg invariants.Target) string {
	t.Helper()
	out, err := b.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(tg.ParameterName)})
	if err != nil {
		t.Fatal(err)
	}
	hist, err := b.ssm.GetParameterHistory(ctx, &ssm.GetParameterHistoryInput{Name: aws.String(tg.ParameterName)})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range hist.Parameters {
		if v.Version == out.Parameter.Version {
			return strings.TrimPrefix(aws.ToString(v.Description), "keyrotor:")
		}
	}
	t.Fatalf("parameter %s has no version %d in its history", tg.ParameterName, out.Parameter.Version)
	return ""
}

func (b *Bench) keysOf(ctx context.Context, t *testing.T, tg invariants.Target) []iamtypes.AccessKeyMetadata {
	t.Helper()
	out, err := b.iam.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(tg.UserName)})
	if err != nil {
		t.Fatal(err)
	}
	return out.AccessKeyMetadata
}
