package sfnlocal

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

func withClock(c Clock) runOpt { return func(o *Options) { o.Clock = c } }

func TestTaskTimeouts(t *testing.T) {
	cases := []struct {
		name      string
		fields    string
		input     string
		work      func(ctx context.Context, c *VirtualClock) error // the task's behaviour
		wantErr   string
		wantEvent string
	}{
		{"TimeoutSeconds overrun is States.Timeout", `"TimeoutSeconds":5`, `{}`,
			func(ctx context.Context, c *VirtualClock) error { return c.Sleep(ctx, 10*time.Second) }, ErrTimeout, "LambdaFunctionTimedOut"},
		{"TimeoutSecondsPath overrun", `"TimeoutSecondsPath":"$.t"`, `{"t":3}`,
			func(ctx context.Context, c *VirtualClock) error { return c.Sleep(ctx, 4*time.Second) }, ErrTimeout, "LambdaFunctionTimedOut"},
		{"within TimeoutSeconds succeeds", `"TimeoutSeconds":5`, `{}`,
			func(ctx context.Context, c *VirtualClock) error { return c.Sleep(ctx, 4*time.Second) }, "", "LambdaFunctionSucceeded"},
		{"no heartbeat is States.HeartbeatTimeout", `"TimeoutSeconds":100,"HeartbeatSeconds":2`, `{}`,
			func(ctx context.Context, c *VirtualClock) error { return c.Sleep(ctx, 3*time.Second) }, ErrHeartbeatTimeout, "LambdaFunctionTimedOut"},
		{"heartbeats keep a long task alive", `"TimeoutSeconds":100,"HeartbeatSeconds":2`, `{}`,
			func(ctx context.Context, c *VirtualClock) error {
				for range 5 {
					if err := c.Sleep(ctx, 1500*time.Millisecond); err != nil {
						return err
					}
					if !Heartbeat(ctx) {
						panic("Heartbeat found no task")
					}
				}
				return nil
			}, "", "LambdaFunctionSucceeded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewVirtualClock(testStart)
			def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + testLambda + `",` + tc.fields + `,"End":true}}}`
			tasks := TaskInvokerFunc(func(ctx context.Context, req TaskRequest) (rawT, error) {
				if err := tc.work(ctx, clock); err != nil {
					return nil, err
				}
				return rawT(`"done"`), nil
			})
			ex, _ := runDef(t, def, tc.input, tasks, withClock(clock))
			if tc.wantErr == "" {
				wantStatus(t, ex, StatusSucceeded)
			} else {
				wantFailed(t, ex, tc.wantErr, "")
			}
			if !strings.Contains(strings.Join(eventTypes(ex), ","), tc.wantEvent) {
				t.Errorf("events %v lack %s", eventTypes(ex), tc.wantEvent)
			}
		})
	}
}

func TestTaskTimeoutIsRetriedButNotByTaskFailed(t *testing.T) {
	for _, tc := range []struct {
		errorEquals string
		retried     bool
	}{{ErrTimeout, true}, {ErrAll, true}, {ErrTaskFailed, false}} {
		t.Run(tc.errorEquals, func(t *testing.T) {
			clock := NewVirtualClock(testStart)
			calls := 0
			tasks := TaskInvokerFunc(func(ctx context.Context, req TaskRequest) (rawT, error) {
				calls++
				if calls == 1 {
					return nil, clock.Sleep(ctx, time.Minute)
				}
				return rawT(`1`), nil
			})
			def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + testLambda + `","TimeoutSeconds":1,
			  "Retry":[{"ErrorEquals":["` + tc.errorEquals + `"]}],"End":true}}}`
			ex, _ := runDef(t, def, `{}`, tasks, withClock(clock))
			if tc.retried {
				wantStatus(t, ex, StatusSucceeded)
			} else {
				wantFailed(t, ex, ErrTimeout, "TimeoutSeconds")
			}
		})
	}
}

func TestTaskRequestCarriesTheTaskSettings(t *testing.T) {
	var got TaskRequest
	tasks := TaskInvokerFunc(func(_ context.Context, req TaskRequest) (rawT, error) { got = req; return rawT(`{}`), nil })
	def := `{"StartAt":"Notify","States":{"Notify":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
	  "Parameters":{"token.$":"$$.Task.Token"},"TimeoutSeconds":30,"HeartbeatSeconds":10,"End":true}}}`
	ex, _ := runDef(t, def, `{}`, tasks)
	wantStatus(t, ex, StatusSucceeded)
	if got.StateName != "Notify" || got.Timeout != 30*time.Second || got.Heartbeat != 10*time.Second || got.ExecutionArn != testExecArn {
		t.Errorf("request = %+v", got)
	}
	if got.TaskToken == "" || string(got.Input) != `{"token":"`+got.TaskToken+`"}` {
		t.Errorf("token %q not passed through $$.Task.Token: input %s", got.TaskToken, got.Input)
	}
	if got.Resource != "arn:aws:states:::lambda:invoke.waitForTaskToken" {
		t.Errorf("resource = %q, want it as written", got.Resource)
	}
}

func TestTaskEventsForLambdaAndServiceIntegrations(t *testing.T) {
	cases := []struct {
		name, resource string
		fail           bool
		types          []string
		detail         string // a fragment of the marshalled history
	}{
		{"lambda function ARN succeeds", testLambda, false,
			[]string{"TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded", "TaskStateExited"},
			`"lambdaFunctionScheduledEventDetails":{"resource":"` + testLambda + `","input":"{\"k\":1}","inputDetails":{"truncated":false},"timeoutInSeconds":7}`},
		{"lambda function ARN fails", testLambda, true,
			[]string{"TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionFailed"},
			`"lambdaFunctionFailedEventDetails":{"error":"VerificationFailed","cause":"{\"errorMessage\":\"attempt 1\"}"}`},
		{"lambda:invoke integration succeeds", "arn:aws:states:::lambda:invoke", false,
			[]string{"TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited"},
			`"taskScheduledEventDetails":{"resourceType":"lambda","resource":"invoke","region":"eu-west-1","parameters":"{\"k\":1}","timeoutInSeconds":7}`},
		{"startExecution.sync integration", "arn:aws:states:::states:startExecution.sync:2", false,
			[]string{"TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded", "TaskStateExited"},
			`"taskSucceededEventDetails":{"resourceType":"states","resource":"startExecution.sync:2","output":"{\"k\":1}","outputDetails":{"truncated":false}}`},
		{"integration fails", "arn:aws:states:::lambda:invoke", true,
			[]string{"TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskFailed"},
			`"taskFailedEventDetails":{"resourceType":"lambda","resource":"invoke","error":"VerificationFailed","cause":"{\"errorMessage\":\"attempt 1\"}"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var tasks TaskInvoker = echo
			if tc.fail {
				tasks, _ = failingTask("VerificationFailed")
			}
			def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + tc.resource + `","TimeoutSeconds":7,"End":true}}}`
			ex, _ := runDef(t, def, `{"k":1}`, tasks)
			types := eventTypes(ex)
			if mustJSON(types[1:len(tc.types)+1]) != mustJSON(tc.types) {
				t.Errorf("events %v, want %v inside", types, tc.types)
			}
			b, err := json.Marshal(ex.History)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tc.detail) {
				t.Errorf("history %s lacks %s", b, tc.detail)
			}
		})
	}
}

func TestInvokerThatIgnoresItsContextIsAbandonedAtTheTimeout(t *testing.T) {
	clock := NewVirtualClock(testStart)
	release := make(chan struct{})
	var once sync.Once
	tasks := TaskInvokerFunc(func(ctx context.Context, req TaskRequest) (rawT, error) {
		clock.Advance(10 * time.Second) // time passes; the invoker does not look at ctx
		<-release
		return rawT(`1`), nil
	})
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + testLambda + `","TimeoutSeconds":2,"End":true}}}`
	ex, _ := runDef(t, def, `{}`, tasks, withClock(clock))
	once.Do(func() { close(release) })
	wantFailed(t, ex, ErrTimeout, "")
}

func TestNoInvokerFailsTheTask(t *testing.T) {
	ex, _ := runDef(t, taskWithRetry(`[]`), `{}`, nil)
	wantFailed(t, ex, ErrTaskFailed, "No task invoker")
}

func TestPanickingInvokerFailsTheTask(t *testing.T) {
	tasks := TaskInvokerFunc(func(context.Context, TaskRequest) (rawT, error) { panic("boom") })
	for _, fields := range []string{``, `"TimeoutSeconds":5,`} {
		def := `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + testLambda + `",` + fields + `"End":true}}},"End":true}}}`
		ex, _ := runDef(t, def, `[1]`, tasks)
		wantFailed(t, ex, ErrTaskFailed, "task invoker panicked: boom")
	}
}

func TestActivityTaskEvents(t *testing.T) {
	def := `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:eu-west-1:123456789012:activity:approve","HeartbeatSeconds":60,"End":true}}}`
	ex, _ := runDef(t, def, `{"k":1}`, echo)
	wantStatus(t, ex, StatusSucceeded)
	if got := mustJSON(eventTypes(ex)); got != `["ExecutionStarted","TaskStateEntered","ActivityScheduled","ActivityStarted","ActivitySucceeded","TaskStateExited","ExecutionSucceeded"]` {
		t.Errorf("events %s", got)
	}
	b, _ := json.Marshal(ex.History[2])
	if !strings.Contains(string(b), `"activityScheduledEventDetails":{"resource":"arn:aws:states:eu-west-1:123456789012:activity:approve","input":"{\"k\":1}","inputDetails":{"truncated":false},"heartbeatInSeconds":60}`) {
		t.Errorf("ActivityScheduled = %s", b)
	}
	tasks, _ := failingTask("Rejected")
	ex, _ = runDef(t, def, `{}`, tasks)
	if got := eventTypes(ex); got[len(got)-2] != "ActivityFailed" {
		t.Errorf("events %v", got)
	}
}
