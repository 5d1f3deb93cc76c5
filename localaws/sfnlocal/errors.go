package sfnlocal

import (
	"context"
	"errors"
	"fmt"
)

// Error names the engine raises (the States.* names AWS uses).
const (
	ErrAll                             = "States.ALL"
	ErrRuntime                         = "States.Runtime"
	ErrTimeout                         = "States.Timeout"
	ErrHeartbeatTimeout                = "States.HeartbeatTimeout"
	ErrTaskFailed                      = "States.TaskFailed"
	ErrPermissions                     = "States.Permissions"
	ErrDataLimitExceeded               = "States.DataLimitExceeded"
	ErrNoChoiceMatched                 = "States.NoChoiceMatched"
	ErrIntrinsicFailure                = "States.IntrinsicFailure"
	ErrResultPathMatchFailure          = "States.ResultPathMatchFailure"
	ErrBranchFailed                    = "States.BranchFailed"
	ErrExceedToleratedFailureThreshold = "States.ExceedToleratedFailureThreshold"
)

// stateError is a failure of a state: an error name and a cause, as Retry/Catch and
// ExecutionFailed see it.
type stateError struct {
	Name  string
	Cause string
	// taskResult marks a States.DataLimitExceeded raised because a Task's result passed the
	// quota: AWS records it as the task's failure and lets Retry/Catch handle it (recorded:
	// localstack tests/aws/services/stepfunctions/v2/error_handling/test_states_errors.snapshot.json,
	// test_task_lambda_data_limit_exceeded_on_large_utf8_response and
	// test_task_lambda_catch_state_all_data_limit_exceeded_on_large_utf8_response).
	taskResult bool
}

func (e *stateError) Error() string {
	if e.Cause == "" {
		return e.Name
	}
	return e.Name + ": " + e.Cause
}

// pathNotFound is the States.Runtime failure of a path that selects nothing from root, the
// document it was applied to; specifiedFor says where the path stands ("field 'X'" or
// "intrinsic function 'X'"), as AWS words it.
func pathNotFound(path, specifiedFor string, root any) *stateError {
	return &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("The JSONPath '%s' specified for the %s could not be found in the input '%s'", path, specifiedFor, encodeJSON(root))}
}

// terminal errors cannot be retried or caught, not even by States.ALL.
func (e *stateError) terminal() bool {
	return e.Name == ErrRuntime || (e.Name == ErrDataLimitExceeded && !e.taskResult)
}

// matchesError reports whether an ErrorEquals list matches the error name.
func matchesError(list []string, name string) bool {
	for _, e := range list {
		switch {
		case e == name, e == ErrAll:
			return true
		case e == ErrTaskFailed && name != ErrTimeout:
			// States.TaskFailed matches any error except States.Timeout.
			return true
		}
	}
	return false
}

// StopCause is the error and cause StopExecution gives; see Stop.
type StopCause struct {
	Error string
	Cause string
}

// stopError adapts StopCause (whose Error field blocks an Error method) to error.
type stopError struct{ s StopCause }

func (e *stopError) Error() string { return "execution stopped: " + e.s.Error }

// Stop returns a cancellation cause for context.WithCancelCause that records errorName and
// cause in the ExecutionAborted event, as StopExecution does.
func Stop(errorName, cause string) error {
	return &stopError{StopCause{Error: errorName, Cause: cause}}
}

func stopDetails(ctx context.Context) *ErrorCauseDetails {
	var se *stopError
	if errors.As(context.Cause(ctx), &se) {
		return &ErrorCauseDetails{Error: se.s.Error, Cause: se.s.Cause}
	}
	return &ErrorCauseDetails{}
}

var (
	errExecutionTimedOut = errors.New("execution timed out")
	errExecutionQuota    = errors.New("execution reached the maximum execution time")
	errHistoryFull       = errors.New("execution history reached its quota")
	errTaskTimedOut      = errors.New("task timed out")
	errHeartbeatTimedOut = errors.New("task heartbeat timed out")
	errSiblingFailed     = errors.New("a sibling branch or iteration failed")
)
