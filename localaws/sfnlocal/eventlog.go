package sfnlocal

import (
	"strings"
	"time"
)

// The event logger: every history event an execution records is made here, one function per
// event type (or per family, where the task's kind or the state's type picks the name), so
// which events a history holds, under which names and with which details, is in this file.
// The log itself (ids, previousEventId, the 25,000-event quota, OnEvent) is history.go, and
// so are the details' wire shapes (*EventDetails).

// Event types, as AWS names them.
const (
	evExecutionStarted   = "ExecutionStarted"
	evExecutionSucceeded = "ExecutionSucceeded"
	evExecutionFailed    = "ExecutionFailed"
	evExecutionAborted   = "ExecutionAborted"
	evExecutionTimedOut  = "ExecutionTimedOut"

	// Every state type has <Type>StateEntered, <Type>StateExited and <Type>StateAborted.
	evStateEntered = "StateEntered"
	evStateExited  = "StateExited"
	evStateAborted = "StateAborted"

	evLambdaFunctionScheduled = "LambdaFunctionScheduled"
	evLambdaFunctionStarted   = "LambdaFunctionStarted"
	evLambdaFunctionSucceeded = "LambdaFunctionSucceeded"
	evLambdaFunctionFailed    = "LambdaFunctionFailed"
	evLambdaFunctionTimedOut  = "LambdaFunctionTimedOut"

	evActivityScheduled = "ActivityScheduled"
	evActivityStarted   = "ActivityStarted"
	evActivitySucceeded = "ActivitySucceeded"
	evActivityFailed    = "ActivityFailed"
	evActivityTimedOut  = "ActivityTimedOut"

	evTaskScheduled = "TaskScheduled"
	evTaskStarted   = "TaskStarted"
	evTaskSubmitted = "TaskSubmitted"
	evTaskSucceeded = "TaskSucceeded"
	evTaskFailed    = "TaskFailed"
	evTaskTimedOut  = "TaskTimedOut"

	evParallelStateStarted   = "ParallelStateStarted"
	evParallelStateSucceeded = "ParallelStateSucceeded"
	evParallelStateFailed    = "ParallelStateFailed"

	evMapStateStarted   = "MapStateStarted"
	evMapStateSucceeded = "MapStateSucceeded"
	evMapStateFailed    = "MapStateFailed"

	evMapIterationStarted   = "MapIterationStarted"
	evMapIterationSucceeded = "MapIterationSucceeded"
	evMapIterationFailed    = "MapIterationFailed"
	evMapIterationAborted   = "MapIterationAborted"

	evMapRunStarted   = "MapRunStarted"
	evMapRunSucceeded = "MapRunSucceeded"
	evMapRunFailed    = "MapRunFailed"
	evMapRunAborted   = "MapRunAborted"
)

// stateEventTypes are a state type's entry and exit events, e.g. TaskStateEntered and
// TaskStateExited (parse.go keeps them on the state).
func stateEventTypes(typ string) (entered, exited string) {
	return typ + evStateEntered, typ + evStateExited
}

// add appends an event to this thread's line and returns its id.
func (t *thread) add(typ string, details any) int64 {
	return t.addAt(t.r.clock.Now(), typ, details)
}

// addAt is add with the event's time already read from the clock.
func (t *thread) addAt(at time.Time, typ string, details any) int64 {
	t.last = t.r.hist.addAt(at, t.last, typ, details)
	return t.last
}

// Execution.

func (t *thread) executionStarted(input, roleArn string) {
	t.add(evExecutionStarted, &ExecutionStartedEventDetails{Input: input, InputDetails: notTruncated, RoleArn: roleArn})
}

func (t *thread) executionSucceeded(output string) {
	t.add(evExecutionSucceeded, &ExecutionSucceededEventDetails{Output: output, OutputDetails: notTruncated})
}

// The execution's other ends follow the history's last event, whichever thread recorded it.

func (h *history) executionFailed(se *stateError) {
	h.add(h.lastID(), evExecutionFailed, &ErrorCauseDetails{Error: se.Name, Cause: se.Cause})
}

func (h *history) executionAborted(d *ErrorCauseDetails) {
	h.add(h.lastID(), evExecutionAborted, d)
}

func (h *history) executionTimedOut(name, cause string) {
	h.add(h.lastID(), evExecutionTimedOut, &ErrorCauseDetails{Error: name, Cause: cause})
}

// Every state.

func (t *thread) stateEntered(at time.Time, st *state, input string) {
	t.addAt(at, st.enteredEvent, t.enteredDetails.alloc(StateEnteredEventDetails{Name: st.name, Input: input, InputDetails: notTruncated}, t.chunk))
}

func (t *thread) stateExited(st *state, output string) {
	t.add(st.exitedEvent, t.exitedDetails.alloc(StateExitedEventDetails{Name: st.name, Output: output, OutputDetails: notTruncated}, t.chunk))
}

func (t *thread) stateAborted(st *state) {
	t.add(st.typ+evStateAborted, nil)
}

// Task: a Lambda function ARN records LambdaFunction*, an activity ARN Activity*, anything
// else (the arn:aws:states:::service:action integrations) Task* (see taskKind).

func (t *thread) taskStarted(st *state, input string, timeout, heartbeat time.Duration) {
	switch st.kind {
	case kindLambda:
		t.add(evLambdaFunctionScheduled, t.lambdaScheduled.alloc(LambdaFunctionScheduledEventDetails{Resource: st.resource, Input: input, InputDetails: notTruncated, TimeoutInSeconds: int64(timeout / time.Second)}, min(t.chunk, 4)))
		t.add(evLambdaFunctionStarted, nil)
	case kindActivity:
		t.add(evActivityScheduled, &ActivityScheduledEventDetails{Resource: st.resource, Input: input, InputDetails: notTruncated, TimeoutInSeconds: int64(timeout / time.Second), HeartbeatInSeconds: int64(heartbeat / time.Second)})
		t.add(evActivityStarted, nil)
	default:
		t.add(evTaskScheduled, &TaskScheduledEventDetails{ResourceType: st.resourceType, Resource: st.resourceName, Region: t.r.region, Parameters: input, TimeoutInSeconds: int64(timeout / time.Second), HeartbeatInSeconds: int64(heartbeat / time.Second)})
		t.add(evTaskStarted, &TaskStartedEventDetails{ResourceType: st.resourceType, Resource: st.resourceName})
	}
}

func (t *thread) taskFailed(st *state, failure *stateError) {
	timedOut := failure.Name == ErrTimeout || failure.Name == ErrHeartbeatTimeout
	ec := &ErrorCauseDetails{Error: failure.Name, Cause: failure.Cause}
	switch {
	case st.kind == kindLambda && timedOut:
		t.add(evLambdaFunctionTimedOut, ec)
	case st.kind == kindLambda:
		t.add(evLambdaFunctionFailed, ec)
	case st.kind == kindActivity && timedOut:
		t.add(evActivityTimedOut, ec)
	case st.kind == kindActivity:
		t.add(evActivityFailed, ec)
	case timedOut:
		t.add(evTaskTimedOut, &TaskErrorEventDetails{ResourceType: st.resourceType, Resource: st.resourceName, Error: failure.Name, Cause: failure.Cause})
	default:
		t.add(evTaskFailed, &TaskErrorEventDetails{ResourceType: st.resourceType, Resource: st.resourceName, Error: failure.Name, Cause: failure.Cause})
	}
}

// taskSucceeded records the task's success; submitted says whether its invoker already
// recorded TaskSubmitted (see Submitted).
func (t *thread) taskSucceeded(st *state, output string, submitted bool) {
	switch st.kind {
	case kindLambda:
		t.add(evLambdaFunctionSucceeded, t.lambdaSucceeded.alloc(OutputDetails{Output: output, OutputDetails: notTruncated}, min(t.chunk, 4)))
	case kindActivity:
		t.add(evActivitySucceeded, &OutputDetails{Output: output, OutputDetails: notTruncated})
	default:
		if !submitted && (strings.Contains(st.resourceName, ".sync") || strings.HasSuffix(st.resourceName, ".waitForTaskToken")) {
			t.taskSubmitted(st, output)
		}
		t.add(evTaskSucceeded, &TaskOutputEventDetails{ResourceType: st.resourceType, Resource: st.resourceName, Output: output, OutputDetails: notTruncated})
	}
}

// taskSubmitted records TaskSubmitted with the service's response (see Submitted).
func (t *thread) taskSubmitted(st *state, output string) {
	t.add(evTaskSubmitted, &TaskOutputEventDetails{ResourceType: st.resourceType, Resource: st.resourceName, Output: output, OutputDetails: notTruncated})
}

// Parallel and Map. Their failure event (no details) is held back: AWS records it once, when
// no retrier runs the state again (recorded: localstack tests/aws/services/stepfunctions/v2/
// scenarios/test_base_scenarios.snapshot.json, test_map_state_retry,
// test_parallel_state_retry). The executor flushes or drops it.

func (t *thread) parallelStateStarted()   { t.add(evParallelStateStarted, nil) }
func (t *thread) parallelStateSucceeded() { t.add(evParallelStateSucceeded, nil) }
func (t *thread) parallelStateFailedLater() {
	t.failedEvent = evParallelStateFailed
}

func (t *thread) mapStateStarted(length int) {
	t.add(evMapStateStarted, &MapStateStartedEventDetails{Length: length})
}
func (t *thread) mapStateSucceeded()   { t.add(evMapStateSucceeded, nil) }
func (t *thread) mapStateFailed()      { t.add(evMapStateFailed, nil) }
func (t *thread) mapStateFailedLater() { t.failedEvent = evMapStateFailed }
func (t *thread) dropFailedEvent()     { t.failedEvent = "" }

// flushFailedEvent records a pending MapStateFailed/ParallelStateFailed.
func (t *thread) flushFailedEvent() {
	if t.failedEvent != "" {
		t.add(t.failedEvent, nil)
		t.failedEvent = ""
	}
}

// An inline Map's iterations, each on its own thread.

func (t *thread) mapIterationStarted(st *state, i int) {
	t.add(evMapIterationStarted, &MapIterationEventDetails{Name: st.name, Index: i})
}

func (t *thread) mapIterationSucceeded(st *state, i int) {
	t.add(evMapIterationSucceeded, &MapIterationEventDetails{Name: st.name, Index: i})
}

func (t *thread) mapIterationFailed(st *state, i int) {
	t.add(evMapIterationFailed, &MapIterationEventDetails{Name: st.name, Index: i})
}

func (t *thread) mapIterationAborted(st *state, i int) {
	t.add(evMapIterationAborted, &MapIterationEventDetails{Name: st.name, Index: i})
}

// A Distributed Map's Map Run.

func (t *thread) mapRunStarted(arn string) {
	t.add(evMapRunStarted, &MapRunStartedEventDetails{MapRunArn: arn})
}

// mapRunSucceeded returns the event's id: MapStateExited follows it, not MapStateSucceeded.
func (t *thread) mapRunSucceeded() int64 { return t.add(evMapRunSucceeded, nil) }

func (t *thread) mapRunFailed(se *stateError) {
	t.add(evMapRunFailed, &ErrorCauseDetails{Error: se.Name, Cause: se.Cause})
}

func (t *thread) mapRunAborted() { t.add(evMapRunAborted, nil) }
