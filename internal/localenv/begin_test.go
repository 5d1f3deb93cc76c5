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

// Begin changes nothing in AWS before its last call takes the lock, so it has no reason to give
// up on a busy IAM: in a fleet of ten member accounts at 4 IAM calls/s each, 15 first rotations
// failed Throttled at Begin after the transient retrier's 6 retries. Here each of Begin's IAM
// reads is throttled for eight whole attempts of the step (the SDK's three tries each), one more
// than the transient retrier allows. On the AWS clock the rotation still ends rotated.
func TestBeginWaitsOutSustainedThrottling(t *testing.T) {
	ctx := context.Background()
	venv, err := localenv.Up(ctx, localenv.Options{Clock: sfnlocal.NewVirtualClock(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	defer venv.Close()
	const sdkTries, stepAttempts = 3, 8
	for _, tc := range []struct{ user, action string }{
		{"le-begin-tags-throttled", "ListUserTags"},
		{"le-begin-user-throttled", "GetUser"},
		{"le-begin-keys-throttled", "ListAccessKeys"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			if _, err := venv.CreateManagedUser(ctx, localenv.ManagedUser{Name: tc.user, Keys: 1, Parameter: "/keyrotor/" + tc.user}); err != nil {
				t.Fatal(err)
			}
			before := activeKeysIn(ctx, t, venv, tc.user)
			venv.Proxy.AddRule(faultproxy.Rule{Service: "iam", Action: tc.action, Times: sdkTries * stepAttempts, Fault: faultproxy.Throttle})
			defer venv.Proxy.ClearRules()
			start, err := venv.SFN().StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(venv.StateMachineARN),
				Input: aws.String(`{"userName":"` + tc.user + `"}`)})
			if err != nil {
				t.Fatal(err)
			}
			out := waitExecutionIn(t, venv, aws.ToString(start.ExecutionArn), 3*time.Minute)
			if out.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("rotation with iam:%s throttled for %d attempts of Begin: %s %s %s",
					tc.action, stepAttempts, out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
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
			if throttled["Begin"] != stepAttempts || len(throttled) != 1 {
				t.Errorf("steps failed %s %v times, want Begin %d times (every attempt the rule throttled) and no other step", rotation.Throttled, throttled, stepAttempts)
			}
			after := activeKeysIn(ctx, t, venv, tc.user)
			keys, err := iam.NewFromConfig(venv.AdminConfig()).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(tc.user)})
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != 1 || len(keys.AccessKeyMetadata) != 1 || after[0] == before[0] {
				t.Errorf("keys after the rotation: %d, active %v; want only a new active key (the old was %v)", len(keys.AccessKeyMetadata), after, before)
			}
		})
	}
}
