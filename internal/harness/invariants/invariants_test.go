package invariants_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/internal/harness/invariants"
	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

var moto *motoserver.Server

func TestMain(m *testing.M) {
	os.Exit(testutil.RunWithMoto(m, motoserver.Options{Auth: true}, func(_ context.Context, s *motoserver.Server) error {
		moto = s
		return nil
	}))
}

func checker() *invariants.Checker {
	return &invariants.Checker{
		Admin: moto.AdminConfig(),
		ConfigFor: func(id, secret string) aws.Config {
			return motoserver.Config(moto.Endpoint, aws.Credentials{AccessKeyID: id, SecretAccessKey: secret})
		},
		UserARN: func(u string) string { return "arn:aws:iam::" + motoserver.AccountID + ":user/" + u },
	}
}

type key struct{ id, secret string }

// world sets up a user with keys and a parameter, as the administrator.
type world struct {
	t   *testing.T
	iam *iam.Client
	ssm *ssm.Client
	tg  invariants.Target
}

func newWorld(t *testing.T, name string) *world {
	cfg := moto.AdminConfig()
	w := &world{t: t, iam: iam.NewFromConfig(cfg), ssm: ssm.NewFromConfig(cfg),
		tg: invariants.Target{UserName: name, ParameterName: "/keyrotor/" + name}}
	if _, err := w.iam.CreateUser(t.Context(), &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) key() key {
	out, err := w.iam.CreateAccessKey(w.t.Context(), &iam.CreateAccessKeyInput{UserName: aws.String(w.tg.UserName)})
	if err != nil {
		w.t.Fatal(err)
	}
	return key{aws.ToString(out.AccessKey.AccessKeyId), aws.ToString(out.AccessKey.SecretAccessKey)}
}

func (w *world) store(k key) {
	v, _ := json.Marshal(map[string]string{"AccessKeyId": k.id, "SecretAccessKey": k.secret})
	if _, err := w.ssm.PutParameter(w.t.Context(), &ssm.PutParameterInput{Name: aws.String(w.tg.ParameterName),
		Value: aws.String(string(v)), Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true),
		Description: aws.String("keyrotor:" + k.id)}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) lock(value string) {
	if _, err := w.ssm.PutParameter(w.t.Context(), &ssm.PutParameterInput{Name: aws.String(w.tg.ParameterName + ".lock"),
		Value: aws.String(value), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}); err != nil {
		w.t.Fatal(err)
	}
}

func kinds(vs []invariants.Violation) []string {
	var out []string
	for _, v := range vs {
		if !slices.Contains(out, v.Invariant) {
			out = append(out, v.Invariant)
		}
	}
	slices.Sort(out)
	return out
}

func TestCheckFindsEachBrokenInvariant(t *testing.T) {
	succeeded := invariants.Outcome{Status: "SUCCEEDED"}
	cases := []struct {
		name string
		// run changes the world after the snapshot and returns the outcome to check.
		run  func(w *world, old key) invariants.Outcome
		want []string
	}{
		{"a clean rotation", func(w *world, old key) invariants.Outcome {
			w.store(w.key())
			_, _ = w.iam.DeleteAccessKey(t.Context(), &iam.DeleteAccessKeyInput{UserName: aws.String(w.tg.UserName), AccessKeyId: aws.String(old.id)})
			return succeeded
		}, nil},
		{"the parameter holds a wrong secret", func(w *world, old key) invariants.Outcome {
			k := w.key()
			w.store(key{k.id, "wrongwrongwrongwrongwrongwrongwrongwrong"})
			return succeeded
		}, []string{"parameter"}},
		{"the key the parameter still holds was deactivated", func(w *world, old key) invariants.Outcome {
			_, _ = w.iam.UpdateAccessKey(t.Context(), &iam.UpdateAccessKeyInput{UserName: aws.String(w.tg.UserName), AccessKeyId: aws.String(old.id), Status: iamtypes.StatusTypeInactive})
			return invariants.Outcome{Status: "FAILED", Error: "AccessDenied", Cause: "Rotation of IAM user " + w.tg.UserName + " failed."}
		}, []string{"parameter"}},
		{"the parameter was deleted", func(w *world, old key) invariants.Outcome {
			_, _ = w.ssm.DeleteParameter(t.Context(), &ssm.DeleteParameterInput{Name: aws.String(w.tg.ParameterName)})
			return invariants.Outcome{Status: "FAILED", Error: "VerificationFailed", Cause: "Rotation of IAM user " + w.tg.UserName + " failed."}
		}, []string{"parameter"}},
		{"an orphan key", func(w *world, old key) invariants.Outcome {
			w.key()
			return invariants.Outcome{Status: "FAILED", Error: "AccessDenied", Cause: "Rotation of IAM user " + w.tg.UserName + " failed."}
		}, []string{"keys"}},
		{"a key recorded only in a lock of an ended execution", func(w *world, old key) invariants.Outcome {
			k := w.key()
			w.lock(`{"executionId":"arn:ended","newAccessKeyId":"` + k.id + `"}`)
			return invariants.Outcome{Status: "FAILED", Error: "AccessDenied", Cause: "Rotation of IAM user " + w.tg.UserName + " failed.",
				Running: func(string) bool { return false }}
		}, []string{"keys"}},
		{"a key recorded in the lock of a running execution", func(w *world, old key) invariants.Outcome {
			k := w.key()
			w.lock(`{"executionId":"arn:running","newAccessKeyId":"` + k.id + `"}`)
			return invariants.Outcome{Status: "FAILED", Error: "RotationInProgress", Cause: "another rotation holds " + w.tg.ParameterName,
				Running: func(arn string) bool { return arn == "arn:running" }}
		}, nil},
		{"failed without a named error", func(w *world, old key) invariants.Outcome {
			return invariants.Outcome{Status: "FAILED", Error: "UnexpectedError", Cause: "Rotation of IAM user " + w.tg.UserName + " failed."}
		}, []string{"outcome"}},
		{"failed with a raw document as cause", func(w *world, old key) invariants.Outcome {
			return invariants.Outcome{Status: "FAILED", Error: "AccessDenied", Cause: `{"errorMessage":"denied","errorType":"AccessDenied"}`}
		}, []string{"outcome"}},
		{"timed out", func(w *world, old key) invariants.Outcome {
			return invariants.Outcome{Status: "TIMED_OUT"}
		}, []string{"outcome"}},
		{"succeeded without a new key", func(w *world, old key) invariants.Outcome { return succeeded }, []string{"outcome"}},
		{"the secret in a log line", func(w *world, old key) invariants.Outcome {
			return invariants.Outcome{Status: "FAILED", Error: "AccessDenied", Cause: "Rotation of IAM user " + w.tg.UserName + " failed.",
				Texts: []string{`{"msg":"stored","value":"` + old.secret + `"}`}}
		}, []string{"secret"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, fmt.Sprintf("inv-%d", i))
			old := w.key()
			w.store(old)
			chk := checker()
			before, err := chk.Snapshot(t.Context(), w.tg)
			if err != nil {
				t.Fatal(err)
			}
			out := c.run(w, old)
			res, err := chk.Check(t.Context(), w.tg, before, out, invariants.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := kinds(res.Violations); !slices.Equal(got, c.want) {
				t.Errorf("violations %v, want kinds %v", res.Violations, c.want)
			}
			for _, v := range res.Violations {
				if s := v.String(); slices.ContainsFunc(before.Secrets(), func(sec string) bool { return len(sec) > 0 && strings.Contains(s, sec) }) {
					t.Errorf("a violation repeats the secret it found")
				}
			}
		})
	}
}
