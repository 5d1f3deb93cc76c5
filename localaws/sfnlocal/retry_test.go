package sfnlocal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// failingTask fails with the given error names in turn, then echoes its input.
func failingTask(names ...string) (TaskInvoker, *[]TaskRequest) {
	var mu sync.Mutex
	var reqs []TaskRequest
	n := 0
	return TaskInvokerFunc(func(_ context.Context, req TaskRequest) (rawT, error) {
		mu.Lock()
		defer mu.Unlock()
		reqs = append(reqs, req)
		if n < len(names) {
			n++
			return nil, NewTaskFailure(names[n-1], fmt.Sprintf(`{"errorMessage":"attempt %d"}`, n))
		}
		return req.Input, nil
	}), &reqs
}

// retryDelays returns the virtual time between each failure and the next attempt.
func retryDelays(ex *Execution) []time.Duration {
	var out []time.Duration
	var failedAt time.Time
	for _, e := range ex.History {
		switch e.Type {
		case "LambdaFunctionFailed", "LambdaFunctionTimedOut", "TaskFailed":
			failedAt = e.Timestamp
		case "LambdaFunctionScheduled", "TaskScheduled":
			if !failedAt.IsZero() {
				out = append(out, e.Timestamp.Sub(failedAt))
				failedAt = time.Time{}
			}
		}
	}
	return out
}

func taskWithRetry(retry string) string {
	return `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + testLambda + `","Retry":` + retry + `,"End":true}}}`
}

func TestRetryBackoff(t *testing.T) {
	s := time.Second
	cases := []struct {
		name     string
		retry    string
		failures []string
		status   string
		delays   []time.Duration
	}{
		{"defaults: 1s, x2, 3 attempts", `[{"ErrorEquals":["KeyNotYetValid"]}]`, []string{"KeyNotYetValid", "KeyNotYetValid", "KeyNotYetValid"}, StatusSucceeded, []time.Duration{1 * s, 2 * s, 4 * s}},
		{"defaults exhausted", `[{"ErrorEquals":["KeyNotYetValid"]}]`, []string{"KeyNotYetValid", "KeyNotYetValid", "KeyNotYetValid", "KeyNotYetValid"}, StatusFailed, []time.Duration{1 * s, 2 * s, 4 * s}},
		{"interval and rate", `[{"ErrorEquals":["E"],"IntervalSeconds":2,"BackoffRate":3,"MaxAttempts":3}]`, []string{"E", "E", "E"}, StatusSucceeded, []time.Duration{2 * s, 6 * s, 18 * s}},
		{"fractional rate", `[{"ErrorEquals":["E"],"IntervalSeconds":2,"BackoffRate":1.5,"MaxAttempts":3}]`, []string{"E", "E", "E"}, StatusSucceeded, []time.Duration{2 * s, 3 * s, 4500 * time.Millisecond}},
		{"MaxDelaySeconds caps", `[{"ErrorEquals":["E"],"IntervalSeconds":2,"BackoffRate":3,"MaxAttempts":4,"MaxDelaySeconds":5}]`, []string{"E", "E", "E", "E"}, StatusSucceeded, []time.Duration{2 * s, 5 * s, 5 * s, 5 * s}},
		{"MaxAttempts 0 never retries", `[{"ErrorEquals":["E"],"MaxAttempts":0}]`, []string{"E"}, StatusFailed, nil},
		{"non-matching error is not retried", `[{"ErrorEquals":["Other"]}]`, []string{"E"}, StatusFailed, nil},
		{"States.ALL retries anything", `[{"ErrorEquals":["States.ALL"],"IntervalSeconds":3,"BackoffRate":1}]`, []string{"E", "F"}, StatusSucceeded, []time.Duration{3 * s, 3 * s}},
		{"States.TaskFailed retries task errors", `[{"ErrorEquals":["States.TaskFailed"],"IntervalSeconds":1,"BackoffRate":1}]`, []string{"Throttled"}, StatusSucceeded, []time.Duration{s}},
		{"each retrier counts its own attempts", `[{"ErrorEquals":["A"],"MaxAttempts":1,"IntervalSeconds":1},{"ErrorEquals":["B"],"MaxAttempts":1,"IntervalSeconds":10}]`, []string{"A", "B"}, StatusSucceeded, []time.Duration{s, 10 * s}},
		{"spent retrier does not fall through to a later one", `[{"ErrorEquals":["A"],"MaxAttempts":1},{"ErrorEquals":["States.ALL"],"MaxAttempts":5}]`, []string{"A", "A"}, StatusFailed, []time.Duration{s}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tasks, reqs := failingTask(tc.failures...)
			ex, _ := runDef(t, taskWithRetry(tc.retry), `{"k":1}`, tasks)
			wantStatus(t, ex, tc.status)
			if got := retryDelays(ex); mustJSON(got) != mustJSON(tc.delays) {
				t.Errorf("retry delays = %v, want %v", got, tc.delays)
			}
			wantCalls := min(len(tc.failures)+1, len(tc.delays)+1)
			if len(*reqs) != wantCalls {
				t.Errorf("task called %d times, want %d", len(*reqs), wantCalls)
			}
			if tc.status == StatusFailed && ex.Error != tc.failures[len(*reqs)-1] {
				t.Errorf("execution error = %q, want the last task error %q", ex.Error, tc.failures[len(*reqs)-1])
			}
		})
	}
}

func TestRetryFullJitterStaysWithinTheBackoff(t *testing.T) {
	retry := `[{"ErrorEquals":["E"],"IntervalSeconds":4,"BackoffRate":2,"MaxAttempts":6,"MaxDelaySeconds":20,"JitterStrategy":"FULL"}]`
	tasks, _ := failingTask("E", "E", "E", "E", "E", "E")
	ex, _ := runDef(t, taskWithRetry(retry), `{}`, tasks)
	wantStatus(t, ex, StatusSucceeded)
	caps := []time.Duration{4, 8, 16, 20, 20, 20}
	got := retryDelays(ex)
	if len(got) != len(caps) {
		t.Fatalf("delays %v, want %d of them", got, len(caps))
	}
	same := 0
	for i, d := range got {
		if d < 0 || d > caps[i]*time.Second {
			t.Errorf("delay %d = %v, outside [0, %ds]", i, d, caps[i])
		}
		if d == caps[i]*time.Second {
			same++
		}
	}
	if same == len(caps) {
		t.Errorf("FULL jitter left every delay at its cap: %v", got)
	}
	// The same seed gives the same delays.
	tasks2, _ := failingTask("E", "E", "E", "E", "E", "E")
	ex2, _ := runDef(t, taskWithRetry(retry), `{}`, tasks2)
	if mustJSON(retryDelays(ex2)) != mustJSON(got) {
		t.Errorf("seeded jitter not reproducible: %v vs %v", retryDelays(ex2), got)
	}
}

func TestRetryCountInContextObject(t *testing.T) {
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + testLambda + `","Parameters":{"try.$":"$$.State.RetryCount"},
	  "Retry":[{"ErrorEquals":["E"]}],"End":true}}}`
	tasks, reqs := failingTask("E", "E")
	ex, _ := runDef(t, def, `{}`, tasks)
	wantStatus(t, ex, StatusSucceeded)
	for i, r := range *reqs {
		if want := fmt.Sprintf(`{"try":%d}`, i); string(r.Input) != want {
			t.Errorf("attempt %d input = %s, want %s", i, r.Input, want)
		}
	}
}

func TestCatch(t *testing.T) {
	cases := []struct {
		name, catch, failure, wantNext, wantOut string
	}{
		{"ResultPath places the error output", `[{"ErrorEquals":["VerificationFailed"],"ResultPath":"$.error","Next":"Rollback"}]`, "VerificationFailed", "Rollback",
			`{"k":1,"error":{"Error":"VerificationFailed","Cause":"{\"errorMessage\":\"attempt 1\"}"}}`},
		{"default ResultPath replaces the input", `[{"ErrorEquals":["States.ALL"],"Next":"Rollback"}]`, "Anything", "Rollback",
			`{"Error":"Anything","Cause":"{\"errorMessage\":\"attempt 1\"}"}`},
		{"ResultPath null keeps the input", `[{"ErrorEquals":["E"],"ResultPath":null,"Next":"Rollback"}]`, "E", "Rollback", `{"k":1}`},
		{"first matching catcher wins", `[{"ErrorEquals":["X"],"Next":"Other"},{"ErrorEquals":["States.TaskFailed"],"ResultPath":"$.e","Next":"Rollback"},{"ErrorEquals":["States.ALL"],"Next":"Other"}]`, "E", "Rollback",
			`{"k":1,"e":{"Error":"E","Cause":"{\"errorMessage\":\"attempt 1\"}"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + testLambda + `","Catch":[{"ErrorEquals":["NeverRaised"],"Next":"Other"},` + tc.catch[1:] + `,"Next":"Done"},
			  "Done":{"Type":"Succeed"},"Rollback":{"Type":"Pass","End":true},"Other":{"Type":"Fail","Error":"Wrong"}}}`
			tasks, _ := failingTask(tc.failure)
			ex, _ := runDef(t, def, `{"k":1}`, tasks)
			wantStatus(t, ex, StatusSucceeded)
			if p := ex.StatePath(); p[len(p)-1] != tc.wantNext {
				t.Errorf("state path %v does not end in %s", p, tc.wantNext)
			}
			jsonEq(t, ex.Output, tc.wantOut)
			types := strings.Join(eventTypes(ex), ",")
			if !strings.Contains(types, "LambdaFunctionFailed,TaskStateExited,PassStateEntered") {
				t.Errorf("events %s: want the caught failure to exit the Task state", types)
			}
		})
	}
}

func TestRetryThenCatch(t *testing.T) {
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + testLambda + `",
	  "Retry":[{"ErrorEquals":["Throttled"],"MaxAttempts":2,"IntervalSeconds":1}],
	  "Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"F"}],"End":true},
	  "F":{"Type":"Fail","ErrorPath":"$.error.Error","CausePath":"States.Format('gave up: {}', $.error.Cause)"}}}`
	tasks, reqs := failingTask("Throttled", "Throttled", "Throttled")
	ex, _ := runDef(t, def, `{}`, tasks)
	wantFailed(t, ex, "Throttled", `gave up: {"errorMessage":"attempt 3"}`)
	if len(*reqs) != 3 {
		t.Errorf("task called %d times, want 3", len(*reqs))
	}
}

func TestPlainInvokerErrorIsTaskFailed(t *testing.T) {
	tasks := TaskInvokerFunc(func(context.Context, TaskRequest) (rawT, error) { return nil, errors.New("connection refused") })
	ex, _ := runDef(t, taskWithRetry(`[]`), `{}`, tasks)
	wantFailed(t, ex, ErrTaskFailed, "connection refused")
}
