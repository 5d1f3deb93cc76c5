package sfnlocal

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitStates(t *testing.T) {
	cases := []struct {
		name, fields, input string
		want                time.Duration
	}{
		{"Seconds", `"Seconds":90`, `{}`, 90 * time.Second},
		{"Seconds 0", `"Seconds":0`, `{}`, 0},
		{"SecondsPath", `"SecondsPath":"$.grace"`, `{"grace":3600}`, time.Hour},
		{"Timestamp", `"Timestamp":"2026-03-01T12:30:00Z"`, `{}`, 30 * time.Minute},
		{"Timestamp in the past", `"Timestamp":"2020-01-01T00:00:00Z"`, `{}`, 0},
		{"TimestampPath", `"TimestampPath":"$.at"`, `{"at":"2026-03-02T12:00:00+00:00"}`, 24 * time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			def := `{"StartAt":"W","States":{"W":{"Type":"Wait",` + tc.fields + `,"Next":"S"},"S":{"Type":"Succeed"}}}`
			ex, clock := runDef(t, def, tc.input, nil)
			wantStatus(t, ex, StatusSucceeded)
			jsonEq(t, ex.Output, tc.input)
			if got := clock.Now().Sub(testStart); got != tc.want {
				t.Errorf("waited %v, want %v", got, tc.want)
			}
			if got := ex.StopDate.Sub(ex.StartDate); got != tc.want {
				t.Errorf("execution took %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFailState(t *testing.T) {
	cases := []struct {
		name, fields, input, err, cause string
	}{
		{"Error and Cause", `"Error":"TooManyActiveKeys","Cause":"both keys are active"`, `{}`, "TooManyActiveKeys", "both keys are active"},
		{"ErrorPath and CausePath", `"ErrorPath":"$.failure.error","CausePath":"$.failure.cause"`, `{"failure":{"error":"RolledBack","cause":"verification failed; the old key is back"}}`, "RolledBack", "verification failed; the old key is back"},
		{"CausePath intrinsic", `"Error":"E","CausePath":"States.Format('user {} failed', $.user)"`, `{"user":"s3-signer"}`, "E", "user s3-signer failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex, _ := runDef(t, `{"StartAt":"F","States":{"F":{"Type":"Fail",`+tc.fields+`}}}`, tc.input, nil)
			wantFailed(t, ex, tc.err, tc.cause)
			if ex.Cause != tc.cause {
				t.Errorf("cause = %q, want %q", ex.Cause, tc.cause)
			}
			if got := eventTypes(ex); mustJSON(got) != `["ExecutionStarted","FailStateEntered","ExecutionFailed"]` {
				t.Errorf("events %v", got)
			}
		})
	}
	t.Run("ErrorPath not a string is a runtime error", func(t *testing.T) {
		ex, _ := runDef(t, `{"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"$.n"}}}`, `{"n":1}`, nil)
		wantFailed(t, ex, ErrRuntime, "must be a string")
	})
}

func TestParallel(t *testing.T) {
	branch := func(name, result string) string {
		return `{"StartAt":"` + name + `","States":{"` + name + `":{"Type":"Pass","Result":` + result + `,"End":true}}}`
	}
	t.Run("outputs in branch order with ResultSelector and ResultPath", func(t *testing.T) {
		def := `{"StartAt":"P","States":{"P":{"Type":"Parallel","Parameters":{"v.$":"$.v"},"Branches":[
		  {"StartAt":"Double","States":{"Double":{"Type":"Pass","Parameters":{"d.$":"States.MathAdd($.v, $.v)"},"End":true}}},` + branch("B", `"b"`) + `],
		  "ResultSelector":{"first.$":"$[0].d","second.$":"$[1]"},"ResultPath":"$.par","End":true}}}`
		ex, _ := runDef(t, def, `{"v":21}`, nil)
		wantStatus(t, ex, StatusSucceeded)
		jsonEq(t, ex.Output, `{"v":21,"par":{"first":42,"second":"b"}}`)
		if got := ex.StatePath(); mustJSON(got) != `["P","Double","B"]` {
			t.Errorf("state path %v", got)
		}
	})
	t.Run("a failing branch fails the state and cancels the others", func(t *testing.T) {
		var cancelled atomic.Bool
		blocking := make(chan struct{})
		tasks := TaskInvokerFunc(func(ctx context.Context, req TaskRequest) (rawT, error) {
			if req.StateName == "Fails" {
				<-blocking // fail only once the other branch is busy
				return nil, NewTaskFailure("Boom", "branch 1")
			}
			close(blocking)
			<-ctx.Done()
			cancelled.Store(true)
			return nil, ctx.Err()
		})
		def := `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[
		  {"StartAt":"Fails","States":{"Fails":{"Type":"Task","Resource":"` + testLambda + `","End":true}}},
		  {"StartAt":"Blocks","States":{"Blocks":{"Type":"Task","Resource":"` + testLambda + `","End":true}}}],"End":true}}}`
		ex, _ := runDef(t, def, `{}`, tasks)
		wantFailed(t, ex, "Boom", "branch 1")
		if !cancelled.Load() {
			t.Error("the blocked branch was not cancelled")
		}
		types := strings.Join(eventTypes(ex), ",")
		if !strings.Contains(types, "ParallelStateFailed,ExecutionFailed") {
			t.Errorf("events %s", types)
		}
	})
	t.Run("a branch failure can be caught and retried", func(t *testing.T) {
		tasks, reqs := failingTask("Boom")
		def := `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[
		  {"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + testLambda + `","End":true}}}],
		  "Retry":[{"ErrorEquals":["Boom"],"MaxAttempts":1}],"Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"}],"End":true},
		  "C":{"Type":"Pass","End":true}}}`
		ex, _ := runDef(t, def, `{"x":1}`, tasks)
		wantStatus(t, ex, StatusSucceeded)
		jsonEq(t, ex.Output, `[{"x":1}]`)
		if len(*reqs) != 2 {
			t.Errorf("branch task ran %d times, want 2", len(*reqs))
		}
	})
	t.Run("a caught branch failure goes to the catcher", func(t *testing.T) {
		def := `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[` + branch("ok", "1") + `,
		  {"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Nope","Cause":"no"}}}],
		  "Catch":[{"ErrorEquals":["Nope"],"ResultPath":"$.err","Next":"C"}],"End":true},"C":{"Type":"Succeed"}}}`
		ex, _ := runDef(t, def, `{}`, nil)
		wantStatus(t, ex, StatusSucceeded)
		jsonEq(t, ex.Output, `{"err":{"Error":"Nope","Cause":"no"}}`)
	})
}

func TestMap(t *testing.T) {
	proc := `"ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":"` + testLambda + `","End":true}}}`
	t.Run("ItemsPath, ItemSelector with $$.Map.Item, output order", func(t *testing.T) {
		def := `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.users","ItemSelector":{"idx.$":"$$.Map.Item.Index","user.$":"$$.Map.Item.Value","env.$":"$.env"},` + proc + `,"ResultPath":"$.results","End":true}}}`
		ex, _ := runDef(t, def, `{"env":"prod","users":["a","b","c"]}`, echo)
		wantStatus(t, ex, StatusSucceeded)
		jsonEq(t, ex.Output, `{"env":"prod","users":["a","b","c"],"results":[{"idx":0,"user":"a","env":"prod"},{"idx":1,"user":"b","env":"prod"},{"idx":2,"user":"c","env":"prod"}]}`)
		if got := ex.StatePath(); mustJSON(got) != `["M","Work","Work","Work"]` {
			t.Errorf("state path %v", got)
		}
		b, _ := json.Marshal(ex.History)
		for _, frag := range []string{`"mapStateStartedEventDetails":{"length":3}`, `"mapIterationStartedEventDetails":{"name":"M","index":2}`, `"mapIterationSucceededEventDetails":{"name":"M","index":0}`, `"type":"MapStateSucceeded"`} {
			if !strings.Contains(string(b), frag) {
				t.Errorf("history lacks %s", frag)
			}
		}
	})
	t.Run("legacy Parameters and Iterator", func(t *testing.T) {
		def := `{"StartAt":"M","States":{"M":{"Type":"Map","Parameters":{"v.$":"$$.Map.Item.Value"},"Iterator":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`
		ex, _ := runDef(t, def, `[1,2]`, nil)
		wantStatus(t, ex, StatusSucceeded)
		jsonEq(t, ex.Output, `[{"v":1},{"v":2}]`)
	})
	t.Run("empty items", func(t *testing.T) {
		def := `{"StartAt":"M","States":{"M":{"Type":"Map",` + proc + `,"End":true}}}`
		ex, _ := runDef(t, def, `[]`, echo)
		wantStatus(t, ex, StatusSucceeded)
		jsonEq(t, ex.Output, `[]`)
	})
	for _, limit := range []int{1, 2} {
		for _, field := range []string{"MaxConcurrency", "MaxConcurrencyPath"} {
			t.Run(fmt.Sprintf("%s %d bounds concurrency", field, limit), func(t *testing.T) {
				var running, peak atomic.Int32
				tasks := TaskInvokerFunc(func(_ context.Context, req TaskRequest) (rawT, error) {
					n := running.Add(1)
					for {
						p := peak.Load()
						if n <= p || peak.CompareAndSwap(p, n) {
							break
						}
					}
					time.Sleep(2 * time.Millisecond) // let other iterations overlap if they can
					running.Add(-1)
					return req.Input, nil
				})
				setting := fmt.Sprintf(`"MaxConcurrency":%d`, limit)
				if field == "MaxConcurrencyPath" {
					setting = `"MaxConcurrencyPath":"$.limit"`
				}
				def := `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items",` + setting + `,` + proc + `,"End":true}}}`
				ex, _ := runDef(t, def, fmt.Sprintf(`{"limit":%d,"items":[1,2,3,4,5,6]}`, limit), tasks)
				wantStatus(t, ex, StatusSucceeded)
				jsonEq(t, ex.Output, `[1,2,3,4,5,6]`)
				if p := peak.Load(); p > int32(limit) {
					t.Errorf("%d iterations ran at once, limit %d", p, limit)
				}
			})
		}
	}
}

// failOn fails the items whose value is in bad.
func failOn(bad ...float64) TaskInvoker {
	return TaskInvokerFunc(func(_ context.Context, req TaskRequest) (rawT, error) {
		var v float64
		_ = json.Unmarshal(req.Input, &v)
		for _, b := range bad {
			if v == b {
				return nil, NewTaskFailure("ItemFailed", fmt.Sprintf("item %v", v))
			}
		}
		return req.Input, nil
	})
}

// An inline Map fails with the first iteration's error; a Distributed Map tolerates failed
// child executions up to ToleratedFailureCount/Percentage and otherwise fails its Map Run with
// States.ExceedToleratedFailureThreshold — with no threshold given it tolerates none
// (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html#maprun-fail-threshold).
func TestMapFailuresAndTolerance(t *testing.T) {
	work := `"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":"` + testLambda + `","End":true}}}`
	inline := `"ItemProcessor":{` + work
	distributed := `"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},` + work
	cases := []struct {
		name, settings, proc string
		bad                  []float64
		wantErr              string
		wantOut              string
	}{
		{"inline: the first failure fails the Map with its error", ``, inline, []float64{3}, "ItemFailed", ""},
		{"distributed: without a threshold one failure fails the Map Run", ``, distributed, []float64{3}, ErrExceedToleratedFailureThreshold, ""},
		{"ToleratedFailureCount tolerates", `"ToleratedFailureCount":1,`, distributed, []float64{2}, "", `[1,{"Error":"ItemFailed","Cause":"item 2"},3,4]`},
		{"ToleratedFailureCount exceeded", `"ToleratedFailureCount":1,`, distributed, []float64{2, 4}, ErrExceedToleratedFailureThreshold, ""},
		{"ToleratedFailurePercentage tolerates", `"ToleratedFailurePercentage":50,`, distributed, []float64{1, 2}, "", `[{"Error":"ItemFailed","Cause":"item 1"},{"Error":"ItemFailed","Cause":"item 2"},3,4]`},
		{"ToleratedFailurePercentage exceeded", `"ToleratedFailurePercentage":50,`, distributed, []float64{1, 2, 3}, ErrExceedToleratedFailureThreshold, ""},
		{"ToleratedFailureCountPath", `"ToleratedFailureCountPath":"$$.Execution.Input.tolerate",`, distributed, []float64{1, 2}, "", `[{"Error":"ItemFailed","Cause":"item 1"},{"Error":"ItemFailed","Cause":"item 2"},3,4]`},
		{"ToleratedFailurePercentagePath exceeded", `"ToleratedFailurePercentagePath":"$.pct",`, distributed, []float64{1}, ErrExceedToleratedFailureThreshold, ""},
		{"zero tolerance is exceeded by one failure", `"ToleratedFailureCount":0,`, distributed, []float64{4}, ErrExceedToleratedFailureThreshold, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			def := `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":1,` + tc.settings + tc.proc + `,"End":true}}}`
			ex, _ := runDef(t, def, `{"items":[1,2,3,4],"tolerate":2,"pct":10}`, failOn(tc.bad...))
			if tc.wantErr == "" {
				wantStatus(t, ex, StatusSucceeded)
				jsonEq(t, ex.Output, tc.wantOut)
				return
			}
			wantFailed(t, ex, tc.wantErr, "")
			types := strings.Join(eventTypes(ex), ",")
			want := "MapIterationFailed"
			if tc.proc == distributed {
				want = "MapRunFailed,MapStateFailed,ExecutionFailed"
			}
			if !strings.Contains(types, want) || !strings.Contains(types, "MapStateFailed,ExecutionFailed") {
				t.Errorf("events %s, want %s", types, want)
			}
		})
	}
}

func TestExecutionTimeoutAndAbort(t *testing.T) {
	t.Run("state machine TimeoutSeconds times out", func(t *testing.T) {
		def := `{"StartAt":"W","TimeoutSeconds":10,"States":{"W":{"Type":"Wait","Seconds":60,"End":true}}}`
		ex, clock := runDef(t, def, `{}`, nil)
		wantStatus(t, ex, StatusTimedOut)
		if got := clock.Now().Sub(testStart); got != 10*time.Second {
			t.Errorf("timed out after %v, want 10s", got)
		}
		last := ex.History[len(ex.History)-1]
		if last.Type != "ExecutionTimedOut" || ex.Error != ErrTimeout {
			t.Errorf("last event %s, error %q", last.Type, ex.Error)
		}
	})
	t.Run("cancelling the context aborts with StopExecution's error and cause", func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(context.Background())
		tasks := TaskInvokerFunc(func(tctx context.Context, req TaskRequest) (rawT, error) {
			cancel(Stop("Operator", "stopped by hand"))
			<-tctx.Done()
			return nil, tctx.Err()
		})
		def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + testLambda + `","Retry":[{"ErrorEquals":["States.ALL"]}],"End":true}}}`
		ex := Run(ctx, mustParse(t, def), rawT(`{}`), Options{Tasks: tasks, Clock: NewVirtualClock(testStart)})
		wantStatus(t, ex, StatusAborted)
		if got := eventTypes(ex); mustJSON(got[len(got)-2:]) != `["TaskStateAborted","ExecutionAborted"]` {
			t.Errorf("events %v", got)
		}
		b, _ := json.Marshal(ex.History[len(ex.History)-1])
		if !strings.Contains(string(b), `"executionAbortedEventDetails":{"error":"Operator","cause":"stopped by hand"}`) {
			t.Errorf("ExecutionAborted = %s", b)
		}
	})
	t.Run("abort during a Wait records WaitStateAborted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		clock := &cancellingClock{VirtualClock: NewVirtualClock(testStart), cancel: cancel}
		def := `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":5,"End":true}}}`
		ex := Run(ctx, mustParse(t, def), rawT(`{}`), Options{Clock: clock})
		wantStatus(t, ex, StatusAborted)
		if got := eventTypes(ex); mustJSON(got) != `["ExecutionStarted","WaitStateEntered","WaitStateAborted","ExecutionAborted"]` {
			t.Errorf("events %v", got)
		}
	})
}

// cancellingClock cancels the run when something sleeps, as a StopExecution during a Wait.
type cancellingClock struct {
	*VirtualClock
	cancel func()
	once   sync.Once
}

func (c *cancellingClock) Sleep(ctx context.Context, d time.Duration) error {
	c.once.Do(c.cancel)
	<-ctx.Done()
	return ctx.Err()
}
