package localenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// Each throttling case holds one IAM action throttled for eight whole attempts of a step (the
// SDK's three tries each), one more than the transient retrier allows (6 retries).
const sdkTries, stepAttempts = 3, 8

// Retirement comes after the cut-over, so it has hours to spare and no reason to give up on
// a busy IAM: a fleet keeps an account's IAM rate full, and a retirement that failed
// Throttled left the old key active for a person to retire (RetireFailed). DeactivateOldKeys
// reads each old key's last use; here that read is throttled. On the AWS clock the rotation
// still ends with the old key gone and one active key.
func TestRetirementWaitsOutSustainedThrottling(t *testing.T) {
	t.Parallel() // its own engine: it overlaps only the other tests that have theirs
	venv := virtualClockEnv(t)
	throttled := rotateThroughThrottling(t, venv, "le-retire-throttled", "GetAccessKeyLastUsed")
	if throttled["DeactivateOldKeys"] != stepAttempts || len(throttled) != 1 {
		t.Errorf("steps failed %s %v times, want DeactivateOldKeys %d times (every attempt the rule throttled) and no other step", rotation.Throttled, throttled, stepAttempts)
	}
}

// Begin changes nothing in AWS before its last call takes the lock, so it has no reason to give
// up on a busy IAM: in a fleet of ten member accounts at 4 IAM calls/s each, 15 first rotations
// failed Throttled at Begin after the transient retrier's 6 retries. Here each of Begin's IAM
// reads is throttled in turn. On the AWS clock the rotation still ends rotated.
func TestBeginWaitsOutSustainedThrottling(t *testing.T) {
	t.Parallel() // its own engine: it overlaps only the other tests that have theirs
	venv := virtualClockEnv(t)
	for _, tc := range []struct{ user, action string }{
		{"le-begin-tags-throttled", "ListUserTags"},
		{"le-begin-user-throttled", "GetUser"},
		{"le-begin-keys-throttled", "ListAccessKeys"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			throttled := rotateThroughThrottling(t, venv, tc.user, tc.action)
			if throttled["Begin"] != stepAttempts || len(throttled) != 1 {
				t.Errorf("steps failed %s %v times, want Begin %d times (every attempt the rule throttled) and no other step", rotation.Throttled, throttled, stepAttempts)
			}
		})
	}
}

// virtualClockEnv starts a local engine of its own on AWS's clock, so that the state machine's
// backoffs take no wall time.
func virtualClockEnv(t *testing.T) *localenv.Env {
	t.Helper()
	venv, err := localenv.Up(context.Background(), localenv.Options{Clock: sfnlocal.NewVirtualClock(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { venv.Close() })
	return venv
}

// rotateThroughThrottling rotates a new managed user with one key while iam:action is
// throttled for sdkTries × stepAttempts calls. It fails the test unless the rotation succeeds
// and leaves only a new active key, and returns how often each state's Lambda failed Throttled.
func rotateThroughThrottling(t *testing.T, venv *localenv.Env, user, action string) map[string]int {
	t.Helper()
	ctx := context.Background()
	if _, err := venv.CreateManagedUser(ctx, localenv.ManagedUser{Name: user, Keys: 1, Parameter: "/keyrotor/" + user}); err != nil {
		t.Fatal(err)
	}
	before := activeKeysIn(ctx, t, venv, user)
	venv.Proxy.AddRule(faultproxy.Rule{Service: "iam", Action: action, Times: sdkTries * stepAttempts, Fault: faultproxy.Throttle})
	defer venv.Proxy.ClearRules()
	start, err := venv.SFN().StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(venv.StateMachineARN),
		Input: aws.String(`{"userName":"` + user + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	out := waitExecutionIn(t, venv, aws.ToString(start.ExecutionArn), 3*time.Minute)
	if out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("rotation with iam:%s throttled for %d attempts of a step: %s %s %s",
			action, stepAttempts, out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	h, err := venv.SFN().GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: start.ExecutionArn, MaxResults: 1000})
	if err != nil {
		t.Fatal(err)
	}
	throttled, state := map[string]int{}, ""
	for _, ev := range h.Events {
		if d := ev.StateEnteredEventDetails; d != nil {
			state = aws.ToString(d.Name)
		}
		if d := ev.LambdaFunctionFailedEventDetails; d != nil && aws.ToString(d.Error) == rotation.Throttled {
			throttled[state]++
		}
	}
	after := activeKeysIn(ctx, t, venv, user)
	keys, err := iam.NewFromConfig(venv.AdminConfig()).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 1 || len(keys.AccessKeyMetadata) != 1 || after[0] == before[0] {
		t.Errorf("keys after the rotation: %d, active %v; want only a new active key (the old was %v)", len(keys.AccessKeyMetadata), after, before)
	}
	return throttled
}
