package rotation_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// engineHistory is Step Functions for the floor tests: DescribeExecution is moto's (whose
// executions stay RUNNING until stopped), and GetExecutionHistory serves the events a
// rotation's Task and Wait states record, stamped on a clock the test moves, as Step Functions
// stamps them on its own (moto answers every history with one fixed sample). Pages hold at
// most pageCap events, as a service may return fewer than maxResults.
type engineHistory struct {
	*sfn.Client
	mu      sync.Mutex
	now     time.Time
	pageCap int
	events  map[string][]sfntypes.HistoryEvent
}

func newEngineHistory() *engineHistory {
	return &engineHistory{Client: world.sfn, now: time.Now(), pageCap: 3, events: map[string][]sfntypes.HistoryEvent{}}
}

func (h *engineHistory) add(exec string, typ sfntypes.HistoryEventType, state string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := sfntypes.HistoryEvent{Id: int64(len(h.events[exec]) + 1), Type: typ, Timestamp: aws.Time(h.now)}
	switch typ {
	case sfntypes.HistoryEventTypeTaskStateEntered, sfntypes.HistoryEventTypeWaitStateEntered:
		e.StateEnteredEventDetails = &sfntypes.StateEnteredEventDetails{Name: aws.String(state)}
	case sfntypes.HistoryEventTypeTaskStateExited, sfntypes.HistoryEventTypeWaitStateExited:
		e.StateExitedEventDetails = &sfntypes.StateExitedEventDetails{Name: aws.String(state)}
	}
	h.events[exec] = append(h.events[exec], e)
}

func (h *engineHistory) advance(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = h.now.Add(d)
}

// task runs action as the engine runs state: entered, the function scheduled and started,
// the step, its success and the state's end.
func (h *engineHistory) task(f *fixture, exec, state, action string, r rotation.Rotation) rotation.Rotation {
	f.t.Helper()
	h.add(exec, sfntypes.HistoryEventTypeTaskStateEntered, state)
	h.add(exec, sfntypes.HistoryEventTypeLambdaFunctionScheduled, "")
	h.add(exec, sfntypes.HistoryEventTypeLambdaFunctionStarted, "")
	r = f.mustRun(action, exec, r)
	h.add(exec, sfntypes.HistoryEventTypeLambdaFunctionSucceeded, "")
	h.add(exec, sfntypes.HistoryEventTypeTaskStateExited, state)
	return r
}

// wait runs a Wait state of d on the engine's clock.
func (h *engineHistory) wait(exec, state string, d time.Duration) {
	h.add(exec, sfntypes.HistoryEventTypeWaitStateEntered, state)
	h.advance(d)
	h.add(exec, sfntypes.HistoryEventTypeWaitStateExited, state)
}

func (h *engineHistory) GetExecutionHistory(_ context.Context, in *sfn.GetExecutionHistoryInput, _ ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	events := slices.Clone(h.events[aws.ToString(in.ExecutionArn)])
	if in.ReverseOrder {
		slices.Reverse(events)
	}
	from := 0
	if in.NextToken != nil {
		from, _ = strconv.Atoi(aws.ToString(in.NextToken))
	}
	size := h.pageCap
	if in.MaxResults > 0 {
		size = min(size, int(in.MaxResults))
	}
	to := min(from+size, len(events))
	out := &sfn.GetExecutionHistoryOutput{Events: events[from:to]}
	if to < len(events) {
		out.NextToken = aws.String(strconv.Itoa(to))
	}
	return out, nil
}

// The floors run from the end of the Task states named in rotation (VerifyState,
// DeactivateState): each is a Task of statemachine/rotate.asl.json that runs the action it is
// named for, and the Wait the floor bounds comes after it.
func TestFloorStatesAreTheTasksOfTheirActions(t *testing.T) {
	b, err := os.ReadFile("../../statemachine/rotate.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	var def struct {
		States map[string]struct {
			Type, Next, Default string
			Parameters          map[string]any
			SecondsPath         string
		}
	}
	if err := json.Unmarshal(b, &def); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ state, action, wait, seconds string }{
		{rotation.VerifyState, "verify", "GraceWait", "$.graceSeconds"},
		{rotation.DeactivateState, "deactivate", "InactiveWait", "$.inactiveSeconds"},
	} {
		s, ok := def.States[tt.state]
		if !ok || s.Type != "Task" || s.Parameters["action"] != tt.action {
			t.Errorf("state %s: %+v, want the Task that runs action %s", tt.state, s, tt.action)
		}
		// DeactivateOldKeys reaches InactiveWait through its StillInUse Choice's Default.
		next := s.Next
		if n := def.States[next]; n.Type == "Choice" {
			next = n.Default
		}
		if w := def.States[next]; next != tt.wait || w.Type != "Wait" || w.SecondsPath != tt.seconds {
			t.Errorf("after %s comes %s (%+v), want the Wait %s on %s", tt.state, next, w, tt.wait, tt.seconds)
		}
	}
}

// A deactivate that extended the grace and whose answer was lost (the Task retries it with the
// same document) gives the record's answer again: measured from that extension, the floor
// would refuse it, as its state never ended; and it does not extend twice.
func TestDeactivateRetriedAfterALostExtensionGivesTheRecordsAnswer(t *testing.T) {
	f := newFixture(t)
	f.steps.Config.MinGraceSeconds, f.steps.Config.MinInactiveSeconds = 3000, 3000
	h := newEngineHistory()
	f.steps.Executions = h
	old, _ := f.userWithKey()
	exec := f.execution()
	wait := 3000
	r := rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: &wait, InactiveSeconds: &wait}}
	for _, s := range []struct{ state, action string }{{"Begin", "begin"}, {"CreateKey", "create"}, {"StoreParameter", "store"}, {rotation.VerifyState, "verify"}} {
		r = h.task(f, exec, s.state, s.action, r)
	}
	h.wait(exec, "GraceWait", 3000*time.Second)
	// A consumer used the old key after the verification: the grace is extended.
	f.steps.IAM = lastUse{IAM: f.steps.IAM, at: time.Now().Add(time.Minute)}
	h.add(exec, sfntypes.HistoryEventTypeTaskStateEntered, rotation.DeactivateState)
	first := f.mustRun("deactivate", exec, r)
	if !first.StillInUse || first.Extensions != 1 {
		t.Fatalf("first deactivate: stillInUse %v, extensions %d; want an extension", first.StillInUse, first.Extensions)
	}
	// Its answer is lost; the Task's Retry runs it again with the same document.
	again := f.mustRun("deactivate", exec, r)
	a, _ := json.Marshal(first)
	b, _ := json.Marshal(again)
	if string(a) != string(b) {
		t.Errorf("the retry answered %s, want the first answer %s", b, a)
	}
	if f.keys()[old] != iamtypes.StatusTypeActive {
		t.Errorf("old key %s is %s during the extended grace, want Active", old, f.keys()[old])
	}
	// The next genuine deactivate, sent before the extension's wait, is still held to the floor.
	h.add(exec, sfntypes.HistoryEventTypeTaskStateExited, rotation.DeactivateState)
	f.refused("deactivate", exec, again)
}
