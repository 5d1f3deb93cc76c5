package faults

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/internal/harness/invariants"
)

// TestParameterChangedByHandIsNeverLost edits or deletes the parameter between rotations, as a
// person might, and shows the next rotation restores it or refuses with a clear error, keeping
// every earlier version.
func TestParameterChangedByHandIsNeverLost(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 3*time.Minute)
	b.Env.Proxy.ClearRules()
	cases := []struct {
		name string
		// change edits the parameter of t by hand.
		change func(t *testing.T, tg invariants.Target)
		// refusal, if set, is the Error a refusal must have; otherwise the rotation must succeed.
		refusal string
		// says is what a refusal's Cause must name.
		says string
	}{
		{
			name: "value overwritten with text, description left",
			change: func(t *testing.T, tg invariants.Target) {
				put(t, b, &ssm.PutParameterInput{Name: aws.String(tg.ParameterName), Value: aws.String("edited by hand"),
					Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true)})
			},
		},
		{
			name: "overwritten as a plain String without keyrotor's description",
			change: func(t *testing.T, tg invariants.Target) {
				put(t, b, &ssm.PutParameterInput{Name: aws.String(tg.ParameterName), Value: aws.String("edited by hand"),
					Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true), Description: aws.String("my notes")})
			},
			refusal: "ParameterConflict", says: "not written by keyrotor",
		},
		{
			name: "deleted",
			change: func(t *testing.T, tg invariants.Target) {
				if _, err := b.ssm.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(tg.ParameterName)}); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "replaced by a key made by hand",
			change: func(t *testing.T, tg invariants.Target) {
				k, err := b.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(tg.UserName)})
				if err != nil {
					t.Fatal(err)
				}
				if err := b.StoreKey(ctx, tg.ParameterName, aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)); err != nil {
					t.Fatal(err)
				}
			},
			refusal: "TooManyActiveKeys", says: "deactivate the other one",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg, first := seededTarget(ctx, t, b, "edited")
			c.change(t, tg)
			before, err := b.Checker.Snapshot(ctx, tg)
			if err != nil {
				t.Fatal(err)
			}
			run, res := rotateAndCheck(ctx, t, b, tg, before, invariants.Options{Secrets: first.Secrets()})
			t.Logf("%s %s: %s", run.Status, run.Error, run.Cause)
			for _, v := range res.Violations {
				t.Errorf("%s", v)
			}
			if c.refusal != "" {
				if run.Status != "FAILED" || run.Error != c.refusal || !strings.Contains(run.Cause, c.says) {
					t.Errorf("ended %s %s (%s); want a %s refusal saying %q", run.Status, run.Error, run.Cause, c.refusal, c.says)
				}
				if !before.Equal(res.After) {
					t.Errorf("a refused rotation changed things: %s", before.Diff(res.After))
				}
				return
			}
			if run.Status != "SUCCEEDED" {
				t.Errorf("ended %s %s: %s; want the parameter restored with a new key", run.Status, run.Error, run.Cause)
			}
			if len(res.After.Versions) != len(before.Versions)+1 {
				t.Errorf("parameter has %d versions after the rotation, %d before: the edited version must be kept", len(res.After.Versions), len(before.Versions))
			}
		})
	}
}

func put(t *testing.T, b *Bench, in *ssm.PutParameterInput) {
	t.Helper()
	if _, err := b.ssm.PutParameter(t.Context(), in); err != nil {
		t.Fatal(err)
	}
}
