package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/keyrotor/keyrotor/internal/harness/testenv"
	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// A mixed fleet — healthy users, one with two active keys (TooManyActiveKeys), one whose
// rotation is already running (RotationInProgress: skipped) — ends with each outcome shown as
// its rotation ends, the summary's counts, the failure's error and cause, and exit 1.
func TestFleetRotateAllRotatesEveryManagedUserAndShowsEachOutcome(t *testing.T) {
	useLocal(t)
	ctx := context.Background()
	var healthy []string
	for i := range 6 {
		healthy = append(healthy, fmt.Sprintf("cli-fleet-%d", i))
	}
	if err := testenv.CreateFleetUsers(ctx, env, "/cli-fleet/", healthy, 1); err != nil {
		t.Fatal(err)
	}
	if err := testenv.CreateFleetUsers(ctx, env, "/cli-fleet/", []string{"cli-fleet-twokeys"}, 2); err != nil {
		t.Fatal(err)
	}
	stopBusy := holdRotation(t, "/cli-fleet/", "cli-fleet-busy")
	defer stopBusy()
	code, stdout, stderr := cli(t, "rotate", "--all", "--path", "/cli-fleet/", "--grace", "0", "--inactive", "0",
		"--max-concurrency", "3", "--wait")
	if code != exitFailed || !strings.Contains(stderr, "1 of 8 rotations failed") {
		t.Fatalf("rotate --all with one failing user exited %d, want %d with the failure count:\n%s\n%s", code, exitFailed, stdout, stderr)
	}
	for _, u := range healthy {
		if !regexp.MustCompile(`(?m)^✔ ` + u + ` +rotated`).MatchString(stdout) {
			t.Errorf("no rotated line for %s:\n%s", u, stdout)
		}
	}
	for _, want := range []string{
		"rotating 8 managed users",
		"✘ cli-fleet-twokeys",
		"- cli-fleet-busy",
		"8 managed users of 8 listed; 6 rotated, 1 failed, 1 skipped",
		"skipped cli-fleet-busy: RotationInProgress",
		"failed cli-fleet-twokeys: TooManyActiveKeys: ",
		"keyrotor history arn:aws:states:",
		"report: s3://" + env.FleetBucket() + "/fleet/cli-fleet-",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("rotate --all printed no %q:\n%s", want, stdout)
		}
	}
	// Each healthy user's parameter now holds its one active key; the seeded key, which no
	// parameter held, is deactivated and kept (UnknownKey: keyrotor deletes only keys it
	// replaced); nothing secret was printed.
	iamc, ssmc := iam.NewFromConfig(env.AdminConfig()), ssm.NewFromConfig(env.AdminConfig())
	for _, u := range healthy {
		// The fleet ends at each user's cut-over; the rotation retires the old key after it.
		var keys *iam.ListAccessKeysOutput
		var active []string
		testutil.WaitFor(t, 30*time.Second, u+"'s rotation to retire the seeded key", func() bool {
			var err error
			if keys, err = iamc.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(u)}); err != nil {
				t.Fatal(err)
			}
			active = active[:0]
			for _, k := range keys.AccessKeyMetadata {
				if k.Status == "Active" {
					active = append(active, aws.ToString(k.AccessKeyId))
				}
			}
			return len(active) == 1
		})
		if len(active) != 1 || len(keys.AccessKeyMetadata) != 2 {
			t.Fatalf("%s: %d keys, active %v; want the new key active and the seeded one kept inactive", u, len(keys.AccessKeyMetadata), active)
		}
		p, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/keyrotor/" + u), WithDecryption: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		var key struct{ AccessKeyId, SecretAccessKey string }
		if err := json.Unmarshal([]byte(aws.ToString(p.Parameter.Value)), &key); err != nil || key.AccessKeyId != active[0] {
			t.Fatalf("%s: the parameter does not hold the user's key", u)
		}
		if strings.Contains(stdout+stderr, key.SecretAccessKey) {
			t.Errorf("the secret access key of %s appears in the CLI's output", u)
		}
	}
}

func TestFleetRotateAllSucceedsWhenEveryUserRotates(t *testing.T) {
	useLocal(t)
	if err := testenv.CreateFleetUsers(context.Background(), env, "/cli-fleet-ok/", []string{"cli-ok-a", "cli-ok-b"}, 1); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := cli(t, "rotate", "--all", "--path", "/cli-fleet-ok/", "--grace", "0", "--inactive", "0", "--wait")
	if code != exitOK || !strings.Contains(stdout, "2 rotated, 0 failed, 0 skipped") {
		t.Fatalf("rotate --all exited %d:\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, _ = cli(t, "rotate", "--all", "--path", "/cli-fleet-ok/")
	if code != exitOK || !strings.Contains(stdout, "follow it with: keyrotor watch arn:aws:states:") || !strings.Contains(stdout, ":execution:keyrotor-rotate-fleet:cli-fleet-") {
		t.Fatalf("rotate --all without --wait exited %d:\n%s", code, stdout)
	}
}

func TestFleetRotateAllRefusesBadFlagsBeforeStarting(t *testing.T) {
	useLocal(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"with a user", []string{"--all", "--user", "alice"}, "drop --user"},
		{"concurrency too high", []string{"--all", "--max-concurrency", "5000"}, "--max-concurrency 5000"},
		{"percentage over 100", []string{"--all", "--tolerated-failure-percentage", "101"}, "--tolerated-failure-percentage 101"},
		{"relative path", []string{"--all", "--path", "team"}, `--path "team"`},
		{"bad grace", []string{"--all", "--grace", "soon"}, "--grace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, append([]string{"rotate"}, tt.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) || strings.Contains(stdout, "started") {
				t.Fatalf("exited %d, want %d naming %q and starting nothing:\n%s\n%s", code, exitUsage, tt.want, stdout, stderr)
			}
		})
	}
}

// holdRotation creates a managed user under path and starts a rotation of it that holds its
// lock through an hour's grace wait; the returned func stops it.
func holdRotation(t *testing.T, path, user string) func() {
	t.Helper()
	ctx := context.Background()
	if err := testenv.CreateFleetUsers(ctx, env, path, []string{user}, 1); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"userName": user, "graceSeconds": 3600, "inactiveSeconds": 0})
	arn, err := env.StepFunctions.StartExecution(ctx, env.StateMachineARN, "", string(b))
	if err != nil {
		t.Fatal(err)
	}
	stop := func() { _, _ = env.StepFunctions.StopExecution(context.Background(), arn, "", "test done") }
	t.Cleanup(stop) // also when the wait below fails the test
	testutil.WaitFor(t, time.Minute, "the rotation of "+user+" to reach its grace wait", func() bool {
		hist, err := env.StepFunctions.History(ctx, arn)
		if err != nil {
			stop()
			t.Fatal(err)
		}
		return slices.ContainsFunc(hist, func(e sfnlocal.HistoryEvent) bool { return e.Type == "WaitStateEntered" })
	})
	return stop
}
