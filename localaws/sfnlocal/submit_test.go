package sfnlocal

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

const (
	syncResource = "arn:aws:states:::states:startExecution.sync:2"
	startedDoc   = `{"ExecutionArn":"arn:aws:states:eu-west-1:123456789012:execution:child:c1","StartDate":1772366400000}`
)

// submitThen is an invoker of a job that reports its submission, lets an hour pass while the
// job runs, and then ends with the next outcome (a result, or a failure when err is set).
func submitThen(clock *VirtualClock, outcomes ...func() (rawT, error)) TaskInvoker {
	n := 0
	return TaskInvokerFunc(func(ctx context.Context, req TaskRequest) (rawT, error) {
		if err := Submitted(ctx, rawT("  "+startedDoc+"\n")); err != nil {
			return nil, err
		}
		clock.Advance(time.Hour)
		n++
		return outcomes[n-1]()
	})
}

func succeed() (rawT, error) { return rawT(`{"Status": "SUCCEEDED"}`), nil }
func childFailed() (rawT, error) {
	return nil, NewTaskFailure(ErrTaskFailed, `{"Status":"FAILED"}`)
}

// A .sync task's history reads as on AWS: TaskSubmitted with the submission's response as
// soon as the job starts, TaskSucceeded/TaskFailed with the result when it ends.
func TestSubmittedRecordsTaskSubmittedWhenTheJobStarts(t *testing.T) {
	cases := []struct {
		name     string
		resource string
		retry    string
		outcomes []func() (rawT, error)
		status   string
		types    []string // the Task state's events
	}{
		{"sync job succeeds", syncResource, `[]`, []func() (rawT, error){succeed}, StatusSucceeded,
			[]string{"TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded"}},
		{"sync job fails", syncResource, `[]`, []func() (rawT, error){childFailed}, StatusFailed,
			[]string{"TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskFailed"}},
		{"retried sync job submits once per attempt", syncResource, `[{"ErrorEquals":["States.TaskFailed"],"IntervalSeconds":1}]`,
			[]func() (rawT, error){childFailed, succeed}, StatusSucceeded,
			[]string{"TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskFailed", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded"}},
		{"callback task", "arn:aws:states:::sqs:sendMessage.waitForTaskToken", `[]`, []func() (rawT, error){succeed}, StatusSucceeded,
			[]string{"TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewVirtualClock(testStart)
			def := `{"StartAt":"Child","States":{"Child":{"Type":"Task","Resource":"` + tc.resource + `","Retry":` + tc.retry + `,"End":true}}}`
			ex, _ := runDef(t, def, `{}`, submitThen(clock, tc.outcomes...), withClock(clock))
			wantStatus(t, ex, tc.status)
			events := sdkHistory(t, ex)
			wire := func(i int) string { b, _ := json.Marshal(ex.History[i]); return string(b) }
			var got []string
			var lastEnd time.Time
			for i, e := range events {
				if !strings.HasPrefix(string(e.Type), "Task") || strings.HasPrefix(string(e.Type), "TaskState") {
					continue
				}
				got = append(got, string(e.Type))
				if e.PreviousEventId != events[i-1].Id {
					t.Errorf("%s (id %d) follows event %d, want %d", e.Type, e.Id, e.PreviousEventId, events[i-1].Id)
				}
				switch e.Type {
				case types.HistoryEventTypeTaskSubmitted:
					d := e.TaskSubmittedEventDetails
					if d == nil || "arn:aws:states:::"+aws.ToString(d.ResourceType)+":"+aws.ToString(d.Resource) != tc.resource ||
						aws.ToString(d.Output) != startedDoc || d.OutputDetails == nil || d.OutputDetails.Truncated {
						t.Errorf("TaskSubmitted %s, want the submission's response %s for %s", wire(i), startedDoc, tc.resource)
					}
					if !aws.ToTime(e.Timestamp).Equal(lastEnd) {
						t.Errorf("TaskSubmitted at %v, want at submission %v (before the job's hour)", e.Timestamp, lastEnd)
					}
				case types.HistoryEventTypeTaskSucceeded:
					if d := e.TaskSucceededEventDetails; d == nil || aws.ToString(d.Output) != `{"Status":"SUCCEEDED"}` {
						t.Errorf("TaskSucceeded %s, want the result compacted", wire(i))
					}
				case types.HistoryEventTypeTaskFailed:
					if d := e.TaskFailedEventDetails; d == nil || aws.ToString(d.Cause) != `{"Status":"FAILED"}` {
						t.Errorf("TaskFailed %s, want the failure's cause", wire(i))
					}
				case types.HistoryEventTypeTaskStarted:
					lastEnd = aws.ToTime(e.Timestamp)
				}
				if e.Type == types.HistoryEventTypeTaskSucceeded || e.Type == types.HistoryEventTypeTaskFailed {
					if want := lastEnd.Add(time.Hour); !aws.ToTime(e.Timestamp).Equal(want) {
						t.Errorf("%s at %v, want when the job ended %v", e.Type, e.Timestamp, want)
					}
				}
			}
			if mustJSON(got) != mustJSON(tc.types) {
				t.Errorf("task events %v, want %v", got, tc.types)
			}
		})
	}
}

// Submitted records nothing where AWS has no TaskSubmitted event or the task is over, and
// says why.
func TestSubmittedRefusesOutsideARunningIntegrationTask(t *testing.T) {
	cases := []struct {
		name, task string // task: the Task state's fields besides Type and End
		submit     func(ctx context.Context, clock *VirtualClock) error
		want       error
		wantText   string
		events     int // TaskSubmitted events in the history
	}{
		{"lambda function ARN", `"Resource":"` + testLambda + `"`, func(ctx context.Context, _ *VirtualClock) error {
			return Submitted(ctx, rawT(startedDoc))
		}, ErrNotInTask, "", 0},
		{"second report", `"Resource":"` + syncResource + `"`, func(ctx context.Context, _ *VirtualClock) error {
			if err := Submitted(ctx, rawT(startedDoc)); err != nil {
				return err
			}
			return Submitted(ctx, rawT(startedDoc))
		}, ErrTaskEnded, "", 1},
		{"task already timed out", `"Resource":"` + syncResource + `","TimeoutSeconds":2`, func(ctx context.Context, clock *VirtualClock) error {
			clock.Advance(10 * time.Second)
			<-ctx.Done()
			return Submitted(ctx, rawT(startedDoc))
		}, ErrTaskEnded, "", 0},
		{"output that is not JSON", `"Resource":"` + syncResource + `"`, func(ctx context.Context, _ *VirtualClock) error {
			return Submitted(ctx, rawT(`{"ExecutionArn":`))
		}, nil, "the submitted output of state T is not JSON", 1}, // the engine's own, with the result
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewVirtualClock(testStart)
			var got error
			tasks := TaskInvokerFunc(func(ctx context.Context, req TaskRequest) (rawT, error) {
				got = tc.submit(ctx, clock)
				return rawT(`{}`), nil
			})
			def := `{"StartAt":"T","States":{"T":{"Type":"Task",` + tc.task + `,"End":true}}}`
			ex, _ := runDef(t, def, `{}`, tasks, withClock(clock))
			switch {
			case got == nil:
				t.Fatalf("Submitted returned no error; history %v", eventTypes(ex))
			case tc.want != nil && !errors.Is(got, tc.want):
				t.Errorf("Submitted: %v, want %v", got, tc.want)
			case tc.wantText != "" && !strings.Contains(got.Error(), tc.wantText):
				t.Errorf("Submitted: %v, want it to say %q", got, tc.wantText)
			}
			if submitted := countEvents(ex, "TaskSubmitted"); submitted != tc.events {
				t.Errorf("%d TaskSubmitted events, want %d: %v", submitted, tc.events, eventTypes(ex))
			}
		})
	}
	if err := Submitted(context.Background(), rawT(startedDoc)); !errors.Is(err, ErrNotInTask) {
		t.Errorf("Submitted outside any run: %v, want ErrNotInTask", err)
	}
}
