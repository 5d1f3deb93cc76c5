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
// rotation is refused (TooManyActiveKeys) while the old key is active, and succeeds once the
// person did what the Cause says — or at once when the old key was already deactivated.
func TestRetireFailureCauseSaysWhatTheNextRotationDoes(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 3*time.Minute)
	tests := []struct {
		name   string
		denied string // the IAM action denied once
		// next is how the next rotation ends before anyone acts on the Cause.
		next string
	}{
		{"deactivating the old key denied", "UpdateAccessKey", "TooManyActiveKeys"},
		{"deleting the deactivated old key denied", "DeleteAccessKey", ""},
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
				"TooManyActiveKeys", // what the next rotation does while an old key is active
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
			if next.Error != tt.next {
				t.Fatalf("the next rotation ended %s %q (%s), the Cause led to expect %q", next.Status, next.Error, next.Cause, tt.next)
			}
			if tt.next == "" {
				return
			}
			// Do what the Cause says: retire every key but the new one, then rotate.
			for _, k := range b.keysOf(ctx, t, tg) {
				if id := aws.ToString(k.AccessKeyId); id != fresh {
					if id != old {
						t.Errorf("key %s is neither the old key %s nor the new key %s", id, old, fresh)
					}
					if _, err := b.iam.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(tg.UserName),
						AccessKeyId: aws.String(id), Status: iamtypes.StatusTypeInactive}); err != nil {
						t.Fatal(err)
					}
					if _, err := b.iam.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(tg.UserName), AccessKeyId: aws.String(id)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			before, err := b.Checker.Snapshot(ctx, tg)
			if err != nil {
				t.Fatal(err)
			}
			last, chk := rotateAndCheck(ctx, t, b, tg, before, invariants.Options{Strict: true})
			if last.Status != "SUCCEEDED" || len(chk.Violations) > 0 {
				t.Errorf("after following the Cause the rotation ended %s %s (%s)%s", last.Status, last.Error, last.Cause, describe(chk.Violations))
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
