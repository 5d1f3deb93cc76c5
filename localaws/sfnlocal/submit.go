package sfnlocal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// Errors of Submitted.
var (
	// ErrNotInTask: the context is not that of a service-integration Task the engine runs.
	ErrNotInTask = errors.New("the context belongs to no running service-integration task")
	// ErrTaskEnded: the task has already ended (it timed out, or the execution is being
	// stopped) or already reported its submission; nothing is recorded.
	ErrTaskEnded = errors.New("the task has already ended or reported its submission")
)

type submissionKey struct{}

// submission lets the invoker of one Task attempt record TaskSubmitted while the engine waits
// for it. The engine closes it when the attempt ends, so a late call records nothing.
type submission struct {
	mu     sync.Mutex
	th     *thread
	st     *state
	done   bool // submitted or closed
	posted bool // TaskSubmitted was recorded
}

// Submitted records the TaskSubmitted event of the Task running with ctx at this moment, with
// output (the service's response to the submission, e.g. StartExecution's {ExecutionArn,
// StartDate}) as its output. An invoker of a .sync or .waitForTaskToken integration calls it
// once the job has been started, before waiting for it to end, so the history reads
// TaskStarted → TaskSubmitted → (the job runs) → TaskSucceeded/TaskFailed as on AWS. An
// invoker that never calls it gets, as before, a TaskSubmitted carrying the task's result
// just ahead of TaskSucceeded. Only service-integration resources (arn:aws:states:::…) have
// the event: for a Lambda function or activity ARN, or a context the engine did not give,
// Submitted returns ErrNotInTask; after the task ended or a second call, ErrTaskEnded.
func Submitted(ctx context.Context, output json.RawMessage) error {
	s, ok := ctx.Value(submissionKey{}).(*submission)
	if !ok {
		return ErrNotInTask
	}
	var text bytes.Buffer
	if err := json.Compact(&text, bytes.TrimSpace(output)); err != nil {
		return fmt.Errorf("the submitted output of state %s is not JSON: %w", s.st.name, err)
	}
	if text.Len() > MaxPayloadBytes {
		return fmt.Errorf("the submitted output of state %s has %d bytes, above the quota of %d bytes", s.st.name, text.Len(), MaxPayloadBytes)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done || ctx.Err() != nil { // a cancelled ctx: the task timed out or the run is stopping
		return ErrTaskEnded
	}
	s.done, s.posted = true, true
	s.th.taskSubmitted(s.st, text.String())
	return nil
}

// close ends the attempt for Submitted and reports whether TaskSubmitted was recorded.
func (s *submission) close() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	return s.posted
}
