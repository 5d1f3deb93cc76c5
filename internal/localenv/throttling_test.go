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

// Retirement comes after the cut-over, so it has hours to spare and no reason to give up on
// a busy IAM: a fleet keeps an account's IAM rate full, and a retirement that failed
// Throttled left the old key active for a person to retire (RetireFailed). DeactivateOldKeys
// reads each old key's last use; here that read is throttled for eight whole attempts of the
// step (the SDK's three tries each), one more than the transient retrier allows (6 retries).
// On the AWS clock the rotation still ends with the old key gone and one active key.
func TestRetirementWaitsOutSustainedThrottling(t *testing.T) {
	ctx := context.Background()
	venv, err := localenv.Up(ctx, localenv.Options{Clock: sfnlocal.NewVirtualClock(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	defer venv.Close()
	user := "le-retire-throttled"
	if _, err := venv.CreateManagedUser(ctx, localenv.ManagedUser{Name: user, Keys: 1, Parameter: "/keyrotor/" + user}); err != nil {
		t.Fatal(err)
	}
	before := activeKeysIn(ctx, t, venv, user)
	const sdkTries, stepAttempts = 3, 8
	venv.Proxy.AddRule(faultproxy.Rule{Service: "iam", Action: "GetAccessKeyLastUsed", Times: sdkTries * stepAttempts, Fault: faultproxy.Throttle})
	start, err := venv.SFN().StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(venv.StateMachineARN),
		Input: aws.String(`{"userName":"` + user + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	out := waitExecutionIn(t, venv, aws.ToString(start.ExecutionArn), 3*time.Minute)
	if out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("rotation with its old key's last use throttled for %d attempts of DeactivateOldKeys: %s %s %s",
			stepAttempts, out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	h, err := venv.SFN().GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: start.ExecutionArn, MaxResults: 1000})
	if err != nil {
		t.Fatal(err)
	}
	throttled := 0
	for _, ev := range h.Events {
		if d := ev.LambdaFunctionFailedEventDetails; d != nil && aws.ToString(d.Error) == rotation.Throttled {
			throttled++
		}
	}
	if throttled != stepAttempts {
		t.Errorf("DeactivateOldKeys failed %s %d times, want %d (every attempt the rule throttled)", rotation.Throttled, throttled, stepAttempts)
	}
	after := activeKeysIn(ctx, t, venv, user)
	keys, err := iam.NewFromConfig(venv.AdminConfig()).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 1 || len(keys.AccessKeyMetadata) != 1 || after[0] == before[0] {
		t.Errorf("keys after the rotation: %d, active %v; want only a new active key (the old was %v)", len(keys.AccessKeyMetadata), after, before)
	}
}
