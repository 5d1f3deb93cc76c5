package fleet_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/keyrotor/keyrotor/internal/fleet"
	"github.com/keyrotor/keyrotor/internal/harness/aslrules"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

// The cut-over states are exactly those the rotation machine can reach from VerifyKey's
// success: entering one means the new key is stored and verified, and no other state does.
func TestCutOverStatesAreThoseAfterVerifyKey(t *testing.T) {
	states, err := aslrules.Transitions("../../statemachine/rotate.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	reach := func(from ...string) []string {
		seen := map[string]bool{}
		todo := from
		for len(todo) > 0 {
			n := todo[0]
			todo = todo[1:]
			if seen[n] {
				continue
			}
			seen[n] = true
			todo = append(todo, states[n].All()...)
		}
		var out []string
		for n := range seen {
			out = append(out, n)
		}
		slices.Sort(out)
		return out
	}
	after := reach(states["VerifyKey"].Next)
	want := slices.Sorted(slices.Values(fleet.CutOverStates))
	if !slices.Equal(after, want) {
		t.Errorf("states after VerifyKey %v, fleet.CutOverStates %v", after, want)
	}
	// None of them is reachable without VerifyKey's success (its Catch leads elsewhere).
	verify := states["VerifyKey"]
	verify.Next = ""
	states["VerifyKey"] = verify
	for _, n := range reach("CheckInput") {
		if slices.Contains(fleet.CutOverStates, n) {
			t.Errorf("%s is reachable without VerifyKey succeeding", n)
		}
	}
}

// fakeWatcher answers DescribeExecution and GetExecutionHistory for one rotation.
type fakeWatcher struct {
	status        sfntypes.ExecutionStatus
	errName, why  string
	newestEntered []string // newest first
}

func (f fakeWatcher) DescribeExecution(_ context.Context, in *sfn.DescribeExecutionInput, _ ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	return &sfn.DescribeExecutionOutput{ExecutionArn: in.ExecutionArn, Status: f.status, Error: aws.String(f.errName), Cause: aws.String(f.why)}, nil
}

func (f fakeWatcher) GetExecutionHistory(_ context.Context, in *sfn.GetExecutionHistoryInput, _ ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error) {
	if !in.ReverseOrder || aws.ToBool(in.IncludeExecutionData) {
		return nil, &rotation.Error{Name: "Test", Message: "the cutover check must read the newest events, without execution data"}
	}
	out := &sfn.GetExecutionHistoryOutput{}
	for _, n := range f.newestEntered {
		out.Events = append(out.Events, sfntypes.HistoryEvent{Type: sfntypes.HistoryEventTypeTaskScheduled},
			sfntypes.HistoryEvent{Type: sfntypes.HistoryEventTypeTaskStateEntered, StateEnteredEventDetails: &sfntypes.StateEnteredEventDetails{Name: aws.String(n)}})
	}
	return out, nil
}

func TestCutOverCheckFreesTheSlotOnceTheKeyIsVerified(t *testing.T) {
	const arn = "arn:aws:states:eu-west-1:111122223333:execution:keyrotor-rotate:child-1"
	tests := []struct {
		name    string
		w       fakeWatcher
		checks  int
		status  string
		retires bool
		errName string
		cause   string
		wait    int
	}{
		{"still creating", fakeWatcher{status: sfntypes.ExecutionStatusRunning, newestEntered: []string{"CreateKey", "Begin"}}, 0, fleet.CutOverRunning, false, "", "", 1},
		{"verifying, later checks slower", fakeWatcher{status: sfntypes.ExecutionStatusRunning, newestEntered: []string{"VerifyKey"}}, 100, fleet.CutOverRunning, false, "", "", 10},
		{"in its grace wait", fakeWatcher{status: sfntypes.ExecutionStatusRunning, newestEntered: []string{"GraceWait", "VerifyKey"}}, 3, fleet.CutOverRotated, true, "", "", 0},
		{"extending the grace", fakeWatcher{status: sfntypes.ExecutionStatusRunning, newestEntered: []string{"ExtendGrace"}}, 3, fleet.CutOverRotated, true, "", "", 0},
		{"ended rotated (no waits)", fakeWatcher{status: sfntypes.ExecutionStatusSucceeded}, 1, fleet.CutOverRotated, false, "", "", 0},
		{"failed its verification", fakeWatcher{status: sfntypes.ExecutionStatusFailed, errName: "VerificationFailed", why: "the ARN differs"}, 2, fleet.CutOverFailed, false, "VerificationFailed", "the ARN differs", 0},
		{"stopped", fakeWatcher{status: sfntypes.ExecutionStatusAborted}, 2, fleet.CutOverFailed, false, "ABORTED", "next rotation", 0},
		{"never verified", fakeWatcher{status: sfntypes.ExecutionStatusRunning, newestEntered: []string{"VerifyKey"}}, fleet.MaxCutOverChecks - 1, fleet.CutOverFailed, false, rotation.CutOverNotSeen, "goes on by itself", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &fleet.Lister{Executions: tt.w}
			c, err := l.CheckCutOver(context.Background(), fleet.ListRequest{Action: "cutover", Rotation: arn, Checks: tt.checks})
			if err != nil {
				t.Fatal(err)
			}
			if c.Status != tt.status || c.Retiring != tt.retires || c.Error != tt.errName || !strings.Contains(c.Cause, tt.cause) || c.WaitSeconds != tt.wait || c.Checks != tt.checks+1 || c.Rotation != arn {
				t.Errorf("got %+v, want status %s retiring %t error %q cause ~%q wait %d", c, tt.status, tt.retires, tt.errName, tt.cause, tt.wait)
			}
		})
	}
	if _, err := (&fleet.Lister{Executions: fakeWatcher{}}).CheckCutOver(context.Background(), fleet.ListRequest{Rotation: "child-1"}); err == nil || !strings.Contains(err.Error(), "execution ARN") {
		t.Errorf("a rotation that is no execution ARN: %v", err)
	}
}
