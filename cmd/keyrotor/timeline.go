package main

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// stateRun is one visit of a state, read from an execution's history.
type stateRun struct {
	Name     string    `json:"name"`
	Type     string    `json:"type"` // Task, Wait, Choice, Pass, Succeed, Fail, …
	Entered  time.Time `json:"-"`
	Exited   time.Time `json:"-"` // zero while the state runs
	Seconds  float64   `json:"seconds"`
	Attempts int       `json:"attempts,omitempty"` // Lambda/task invocations (Task states)
	Retries  int       `json:"retries"`
	// Errors are the names of the failed attempts, in order (what Retry or Catch matched).
	Errors []string `json:"errors,omitempty"`
	// input and output are the state's (the rotation document): a Wait's length is read
	// from its input, a step's result from its output.
	input, output string
}

func (r *stateRun) done() bool { return !r.Exited.IsZero() }

// timeline is what an execution's history says about its states.
type timeline struct {
	Runs        []*stateRun
	Status      string // RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED
	Error       string
	Cause       string
	Output      string
	Started     time.Time
	Stopped     time.Time
	Invocations int
	lastID      int64
}

// transitions counts state transitions as Step Functions bills them: every state entered and
// every retry of a Task.
func (t *timeline) transitions() int {
	n := 0
	for _, r := range t.Runs {
		n += 1 + r.Retries
	}
	return n
}

// add folds events (oldest first) into the timeline; events already seen are skipped, so it
// can be fed the whole history again while the execution runs.
func (t *timeline) add(events []sfntypes.HistoryEvent) {
	for _, ev := range events {
		if ev.Id <= t.lastID {
			continue
		}
		t.lastID = ev.Id
		ts := aws.ToTime(ev.Timestamp)
		typ := string(ev.Type)
		switch {
		case typ == "ExecutionStarted":
			t.Started, t.Status = ts, "RUNNING"
		case strings.HasSuffix(typ, "StateEntered") && ev.StateEnteredEventDetails != nil:
			t.Runs = append(t.Runs, &stateRun{
				Name: aws.ToString(ev.StateEnteredEventDetails.Name), Type: strings.TrimSuffix(typ, "StateEntered"), Entered: ts,
				input: aws.ToString(ev.StateEnteredEventDetails.Input),
			})
		case strings.HasSuffix(typ, "StateExited") && ev.StateExitedEventDetails != nil:
			if r := t.open(aws.ToString(ev.StateExitedEventDetails.Name)); r != nil {
				r.Exited = ts
				r.Seconds = ts.Sub(r.Entered).Seconds()
				r.output = aws.ToString(ev.StateExitedEventDetails.Output)
			}
		case typ == "LambdaFunctionScheduled" || typ == "TaskScheduled":
			t.Invocations++
			if r := t.current(); r != nil {
				r.Attempts++
				r.Retries = max(0, r.Attempts-1)
			}
		case typ == "LambdaFunctionFailed" && ev.LambdaFunctionFailedEventDetails != nil:
			t.failedAttempt(aws.ToString(ev.LambdaFunctionFailedEventDetails.Error))
		case typ == "LambdaFunctionTimedOut" && ev.LambdaFunctionTimedOutEventDetails != nil:
			t.failedAttempt(aws.ToString(ev.LambdaFunctionTimedOutEventDetails.Error))
		case typ == "TaskFailed" && ev.TaskFailedEventDetails != nil:
			t.failedAttempt(aws.ToString(ev.TaskFailedEventDetails.Error))
		case typ == "TaskTimedOut" && ev.TaskTimedOutEventDetails != nil:
			t.failedAttempt(aws.ToString(ev.TaskTimedOutEventDetails.Error))
		case typ == "ExecutionSucceeded":
			t.Status, t.Stopped = "SUCCEEDED", ts
			if d := ev.ExecutionSucceededEventDetails; d != nil {
				t.Output = aws.ToString(d.Output)
			}
		case typ == "ExecutionFailed":
			t.Status, t.Stopped = "FAILED", ts
			if d := ev.ExecutionFailedEventDetails; d != nil {
				t.Error, t.Cause = aws.ToString(d.Error), aws.ToString(d.Cause)
			}
		case typ == "ExecutionTimedOut":
			t.Status, t.Stopped = "TIMED_OUT", ts
			if d := ev.ExecutionTimedOutEventDetails; d != nil {
				t.Error, t.Cause = aws.ToString(d.Error), aws.ToString(d.Cause)
			}
		case typ == "ExecutionAborted":
			t.Status, t.Stopped = "ABORTED", ts
			if d := ev.ExecutionAbortedEventDetails; d != nil {
				t.Error, t.Cause = aws.ToString(d.Error), aws.ToString(d.Cause)
			}
		}
		if t.finished() {
			t.closeOpen(t.Stopped)
		}
	}
}

// closeOpen ends the states still open when the execution stopped (a Fail state has no
// StateExited event).
func (t *timeline) closeOpen(at time.Time) {
	for _, r := range t.Runs {
		if !r.done() {
			r.Exited = at
			r.Seconds = at.Sub(r.Entered).Seconds()
		}
	}
}

func (t *timeline) failedAttempt(name string) {
	if r := t.current(); r != nil {
		r.Errors = append(r.Errors, name)
	}
}

// open is the latest visit of name that has not exited.
func (t *timeline) open(name string) *stateRun {
	for i := len(t.Runs) - 1; i >= 0; i-- {
		if r := t.Runs[i]; r.Name == name && !r.done() {
			return r
		}
	}
	return nil
}

// current is the latest state that has not exited.
func (t *timeline) current() *stateRun {
	for i := len(t.Runs) - 1; i >= 0; i-- {
		if !t.Runs[i].done() {
			return t.Runs[i]
		}
	}
	return nil
}

func (t *timeline) finished() bool { return t.Status != "" && t.Status != "RUNNING" }

// run returns the first visit of a state by name.
func (t *timeline) run(name string) *stateRun {
	for _, r := range t.Runs {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// verifySeconds is the time from the new key's creation (CreateKey done) to its verification
// (VerifyKey done); -1 if the execution did not get that far.
func (t *timeline) verifySeconds() float64 {
	created, verified := t.run("CreateKey"), t.run("VerifyKey")
	if created == nil || verified == nil || !created.done() || !verified.done() {
		return -1
	}
	return verified.Exited.Sub(created.Exited).Seconds()
}

// rotationOutput is the part of the rotation document (docs/steps.md) the CLI reports. The
// document never holds a secret; the sealed one is not even decoded.
type rotationOutput struct {
	UserName                 string   `json:"userName"`
	ParameterName            string   `json:"parameterName"`
	NewAccessKeyID           string   `json:"newAccessKeyId"`
	ParameterVersion         int64    `json:"parameterVersion"`
	PreviousAccessKeyIDs     []string `json:"previousAccessKeyIds"`
	DeactivatedAccessKeyIDs  []string `json:"deactivatedAccessKeyIds"`
	DeletedAccessKeyIDs      []string `json:"deletedAccessKeyIds"`
	KeptInactiveAccessKeyIDs []string `json:"keptInactiveAccessKeyIds"`
	STSCalls                 int      `json:"stsCalls"`
	VerifiedAt               string   `json:"verifiedAt"`
}

func parseOutput(s string) rotationOutput {
	var o rotationOutput
	_ = json.Unmarshal([]byte(s), &o)
	return o
}
