package sfnlocal

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"sort"
	"time"
)

// TaskRequest is what a Task state asks its invoker to do.
type TaskRequest struct {
	Resource     string          // the Resource as written in the definition
	Input        json.RawMessage // the effective input (after InputPath and Parameters)
	StateName    string
	TaskToken    string // set for .waitForTaskToken resources
	Timeout      time.Duration
	Heartbeat    time.Duration
	ExecutionArn string
}

// TaskInvoker runs the work of Task states.
type TaskInvoker interface {
	InvokeTask(ctx context.Context, req TaskRequest) (json.RawMessage, error)
}

// TaskInvokerFunc adapts a function to TaskInvoker.
type TaskInvokerFunc func(ctx context.Context, req TaskRequest) (json.RawMessage, error)

// InvokeTask calls f.
func (f TaskInvokerFunc) InvokeTask(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
	return f(ctx, req)
}

// TaskFailure is a named task failure (a Lambda's errorType and its error document); Retry and
// Catch match on Error. Go does not allow a type to have both a field and a method named
// Error, so TaskFailure itself cannot be an error: an invoker returns f.Err() (or
// NewTaskFailure(name, cause)), a *TaskError. Any other error an invoker returns is recorded
// as States.TaskFailed with the error text as Cause.
type TaskFailure struct {
	Error string
	Cause string
}

// Err returns f as an error an invoker can return.
func (f TaskFailure) Err() error { return &TaskError{Failure: f} }

// NewTaskFailure returns the error an invoker returns for a named task failure.
func NewTaskFailure(errorName, cause string) error {
	return &TaskError{Failure: TaskFailure{Error: errorName, Cause: cause}}
}

// TaskError carries a TaskFailure through the error interface.
type TaskError struct{ Failure TaskFailure }

func (e *TaskError) Error() string {
	if e.Failure.Cause == "" {
		return e.Failure.Error
	}
	return e.Failure.Error + ": " + e.Failure.Cause
}

// Options configure one execution.
type Options struct {
	Tasks TaskInvoker
	Clock Clock // nil: RealClock

	ExecutionArn, StateMachineArn, Name, RoleArn string

	// OnEvent is called as each event is appended (live history for the API server). It is
	// called with the history lock held, in event order; it must not call back into the run.
	OnEvent func(HistoryEvent)

	// Rand drives JitterStrategy FULL and States.MathRandom without a seed. nil: a randomly
	// seeded source. Tests pass rand.New(rand.NewPCG(1, 2)) for reproducible runs. A Rand
	// must not be shared by Runs that execute at the same time (rand.Rand is not safe for
	// concurrent use).
	Rand *rand.Rand

	// Region is reported in taskScheduledEventDetails; default us-east-1 (or the region in
	// ExecutionArn).
	Region string

	// MapRuns serves Distributed Map states: it registers each Map Run and runs its child
	// executions. nil: the engine runs them itself, in memory (Execution.MapRuns).
	MapRuns MapRuns
	// Objects is the S3 of ItemReader and ResultWriter. nil: a Distributed Map that reads or
	// writes S3 fails (States.ItemReaderFailed / States.ResultWriterFailed).
	Objects ObjectStore
}

// Execution is the outcome of Run.
type Execution struct {
	Status    string // SUCCEEDED | FAILED | TIMED_OUT | ABORTED
	Output    json.RawMessage
	Error     string
	Cause     string
	History   []HistoryEvent
	StartDate time.Time
	StopDate  time.Time

	path []pathEntry // states entered, keyed by position (see thread.enter)

	// MapRuns are the Map Runs of the execution's Distributed Map states when the engine ran
	// them itself (Options.MapRuns nil), in the order they started.
	MapRuns []*MapRun
}

type pathEntry struct {
	key  []int
	name string
}

// Execution statuses.
const (
	StatusRunning   = "RUNNING"
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusTimedOut  = "TIMED_OUT"
	StatusAborted   = "ABORTED"
)

// StatePath returns the names of the states entered, in order (top level and nested). The
// states of a Parallel's branches are listed branch by branch in branch order, and a Map's
// iterations in item order, so the path does not depend on scheduling. For an Execution
// built by hand (no run behind it) the names come from the history in event order.
func (e *Execution) StatePath() []string {
	if len(e.path) > 0 {
		entries := append([]pathEntry(nil), e.path...)
		sort.SliceStable(entries, func(i, j int) bool { return slices.Compare(entries[i].key, entries[j].key) < 0 })
		names := make([]string, len(entries))
		for i, en := range entries {
			names[i] = en.name
		}
		return names
	}
	var names []string
	for _, ev := range e.History {
		if d, ok := ev.Details.(*StateEnteredEventDetails); ok {
			names = append(names, d.Name)
		}
	}
	return names
}
