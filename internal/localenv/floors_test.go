package localenv_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// With the engine's default floors on a virtual clock, as an account runs them: the functions
// measure the floors between the execution history's timestamps, so a rotation with the
// default waits completes in seconds of real time (with the floors on their own wall clock it
// failed NotAuthorized: a simulated Wait does not move a function's clock). And the floors
// hold: deleteoldkeys invoked directly with the rotation's genuine document while the
// execution waits in GraceWait is refused, and nothing changes.
func TestEngineFloorsAreMeasuredOnTheEnginesClock(t *testing.T) {
	t.Parallel() // its own engine: it overlaps only the other tests that have theirs
	ctx := context.Background()
	clock := sfnlocal.NewVirtualClock(time.Now())
	venv, err := localenv.Up(ctx, localenv.Options{Clock: clock, EngineFloors: true})
	if err != nil {
		t.Fatal(err)
	}
	defer venv.Close()
	user := "le-floors"
	if _, err := venv.CreateManagedUser(ctx, localenv.ManagedUser{Name: user, Keys: 1, Parameter: "/keyrotor/" + user}); err != nil {
		t.Fatal(err)
	}
	// Time stands still until release: the execution stops in GraceWait.
	release := sfnlocal.Hold(clock)
	defer release()
	start, err := venv.SFN().StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(venv.StateMachineARN),
		Input: aws.String(`{"userName":"` + user + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	var doc json.RawMessage
	testutil.WaitFor(t, time.Minute, "the rotation to wait in GraceWait", func() bool {
		h, err := venv.SFN().GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: start.ExecutionArn, ReverseOrder: true, MaxResults: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Events) == 1 && h.Events[0].Type == sfntypes.HistoryEventTypeExecutionFailed {
			t.Fatalf("the rotation failed before its grace: %s", aws.ToString(h.Events[0].ExecutionFailedEventDetails.Cause))
		}
		if len(h.Events) == 1 && h.Events[0].Type == sfntypes.HistoryEventTypeWaitStateEntered {
			doc = json.RawMessage(aws.ToString(h.Events[0].StateEnteredEventDetails.Input))
			return true
		}
		return false
	})
	keysBefore := activeKeysIn(ctx, t, venv, user)
	if len(keysBefore) != 2 {
		t.Fatalf("active keys in the grace period: %v, want the old and the new", keysBefore)
	}
	payload, _ := json.Marshal(map[string]any{"action": "deactivate", "executionId": aws.ToString(start.ExecutionArn), "rotation": doc})
	res, err := venv.Lambda.Invoke(ctx, venv.FunctionARNs["deleteoldkeys"], payload)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("direct deactivate in GraceWait: %s: %s", res.ErrorType, res.ErrorMessage)
	if res.ErrorType != rotation.NotAuthorized || !strings.Contains(res.ErrorMessage, "floor of "+strconv.Itoa(rotation.DefaultMinGraceSeconds)+" s") {
		t.Errorf("direct deactivate in GraceWait answered %q %q, want NotAuthorized naming the %d s floor", res.ErrorType, res.ErrorMessage, rotation.DefaultMinGraceSeconds)
	}
	if after := activeKeysIn(ctx, t, venv, user); strings.Join(after, ",") != strings.Join(keysBefore, ",") {
		t.Errorf("active keys after the refused deactivate: %v, want %v", after, keysBefore)
	}

	began := time.Now()
	release()
	out := waitExecutionIn(t, venv, aws.ToString(start.ExecutionArn), time.Minute)
	if out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("rotation with the default floors: %s %s %s", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	if span := aws.ToTime(out.StopDate).Sub(aws.ToTime(out.StartDate)); span < 25*time.Hour {
		t.Errorf("the rotation spans %v of the engine's clock, want the default waits' 25 h", span)
	}
	if after := activeKeysIn(ctx, t, venv, user); len(after) != 1 || !slices.Contains(keysBefore, after[0]) {
		t.Errorf("active keys after the rotation: %v, want the new one of %v", after, keysBefore)
	}
	t.Logf("with the default floors, the rest of the rotation (grace and inactive waits) took %v of real time", time.Since(began).Round(time.Millisecond))
}

// activeKeysIn returns the ids of the user's active keys in env.
func activeKeysIn(ctx context.Context, t testing.TB, env *localenv.Env, user string) []string {
	t.Helper()
	out, err := iam.NewFromConfig(env.AdminConfig()).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range out.AccessKeyMetadata {
		if k.Status == iamtypes.StatusTypeActive {
			ids = append(ids, aws.ToString(k.AccessKeyId))
		}
	}
	slices.Sort(ids)
	return ids
}
