package sfnapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/keyrotor/keyrotor/localaws/sfnlocal/sfnapi"
)

// childDef is the per-user machine a fleet runs: it echoes a document built from its input.
var childDef = `{"StartAt":"Rotate","States":{"Rotate":{"Type":"Task","Resource":"` + lambdaArn("echo") + `",
	"Parameters":{"userName.$":"$.userName","rotated":true},"End":true}}}`

func parentDef(resource, childArn string) string {
	return parentDefInput(resource, childArn, `{"userName.$":"$.userName"}`)
}

func parentDefInput(resource, childArn, input string) string {
	return `{"StartAt":"Child","States":{"Child":{"Type":"Task","Resource":"` + resource + `",
		"Parameters":{"StateMachineArn":"` + childArn + `","Input":` + input + `,"Name.$":"$.userName"},"End":true}}}`
}

func TestNestedExecutions(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	childArn := h.create(t, "rotate", childDef)
	failingArn := h.create(t, "rotate-fails", failDef)

	cases := []struct {
		name, resource, child, user string
		input                       string // the Input parameter, default {"userName.$":"$.userName"}
		check                       func(t *testing.T, parent sfnapi.Execution, childExec string)
	}{
		{"sync:2 returns the child's output as JSON", sfnapi.ResourceStartExecutionSync2, childArn, "alice", "", func(t *testing.T, p sfnapi.Execution, c string) {
			var out struct {
				ExecutionArn, Name, Status, StateMachineArn string
				Input, Output                               map[string]any
				StartDate, StopDate                         int64
			}
			if err := json.Unmarshal(p.Output, &out); err != nil {
				t.Fatalf("parent output %s: %v", p.Output, err)
			}
			if p.Status != "SUCCEEDED" || out.Status != "SUCCEEDED" || out.ExecutionArn != c || out.Name != "alice" || out.StateMachineArn != childArn {
				t.Errorf("parent %s, output %s", p.Status, p.Output)
			}
			if out.Output["userName"] != "alice" || out.Output["rotated"] != true || out.Input["userName"] != "alice" {
				t.Errorf("Output/Input are not the child's JSON documents: %s", p.Output)
			}
			if out.StartDate != start.UnixMilli() || out.StopDate < out.StartDate {
				t.Errorf("dates %d → %d, want epoch milliseconds from %d", out.StartDate, out.StopDate, start.UnixMilli())
			}
		}},
		{"sync returns the child's output as a string", sfnapi.ResourceStartExecutionSync, childArn, "bob", "", func(t *testing.T, p sfnapi.Execution, c string) {
			var out struct{ Output, Input, Status string }
			if err := json.Unmarshal(p.Output, &out); err != nil {
				t.Fatalf("parent output %s: %v", p.Output, err)
			}
			if out.Status != "SUCCEEDED" {
				t.Errorf("status %s", out.Status)
			}
			jsonEqual(t, out.Output, `{"userName":"bob","rotated":true}`)
			jsonEqual(t, out.Input, `{"userName":"bob"}`)
		}},
		{"a string Input is the child's input text", sfnapi.ResourceStartExecutionSync2, childArn, "frank", `"{\"userName\":\"frank\",\"n\":1}"`, func(t *testing.T, p sfnapi.Execution, c string) {
			var out struct{ Input, Output map[string]any }
			if err := json.Unmarshal(p.Output, &out); err != nil {
				t.Fatalf("parent output %s: %v", p.Output, err)
			}
			if out.Input["userName"] != "frank" || out.Input["n"] != 1.0 || out.Output["userName"] != "frank" {
				t.Errorf("parent output %s", p.Output)
			}
		}},
		{"plain start returns the child's ARN and the child runs on", sfnapi.ResourceStartExecution, childArn, "carol", "", func(t *testing.T, p sfnapi.Execution, c string) {
			var out map[string]any
			if err := json.Unmarshal(p.Output, &out); err != nil {
				t.Fatal(err)
			}
			if out["ExecutionArn"] != c || out["StartDate"] == nil || out["Output"] != nil {
				t.Errorf("parent output %s", p.Output)
			}
			if x := h.wait(t, c); x.Status != "SUCCEEDED" {
				t.Errorf("child %s", x.Status)
			}
		}},
		{"a failed child fails the task with States.TaskFailed and the child's error in the cause", sfnapi.ResourceStartExecutionSync2, failingArn, "dave", "", func(t *testing.T, p sfnapi.Execution, c string) {
			if p.Status != "FAILED" || p.Error != "States.TaskFailed" {
				t.Fatalf("parent %s %s", p.Status, p.Error)
			}
			var cause struct{ ExecutionArn, Status, Error, Cause string }
			if err := json.Unmarshal([]byte(p.Cause), &cause); err != nil {
				t.Fatalf("cause %q is not the child's description: %v", p.Cause, err)
			}
			if cause.ExecutionArn != c || cause.Status != "FAILED" || cause.Error != "VerificationFailed" || !strings.Contains(cause.Cause, "another user") {
				t.Errorf("cause %s", p.Cause)
			}
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			def := parentDef(tc.resource, tc.child)
			if tc.input != "" {
				def = parentDefInput(tc.resource, tc.child, tc.input)
			}
			parentArn := h.create(t, "fleet-"+string(rune('a'+i)), def)
			x, err := h.srv.StartExecution(ctx, parentArn, "", `{"userName":"`+tc.user+`"}`)
			if err != nil {
				t.Fatal(err)
			}
			p := h.wait(t, x)
			childName := tc.child[strings.LastIndex(tc.child, ":")+1:]
			tc.check(t, p, "arn:aws:states:us-east-1:123456789012:execution:"+childName+":"+tc.user)
		})
	}
}

// A fleet machine maps the rotation machine over users as .sync:2 children.
func TestFleetMapRunsChildrenPerUser(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	childArn := h.create(t, "rotate", childDef)
	fleetArn := h.create(t, "fleet", `{"StartAt":"Each","States":{"Each":{"Type":"Map","ItemsPath":"$.users","MaxConcurrency":2,
		"Iterator":{"StartAt":"Rotate","States":{"Rotate":{"Type":"Task","Resource":"`+sfnapi.ResourceStartExecutionSync2+`",
			"Parameters":{"StateMachineArn":"`+childArn+`","Input":{"userName.$":"$"},"Name.$":"$"},
			"ResultSelector":{"user.$":"$.Output.userName","status.$":"$.Status"},"End":true}}},"End":true}}}`)
	users := []string{"u1", "u2", "u3", "u4", "u5"}
	in, _ := json.Marshal(map[string]any{"users": users})
	x, err := h.srv.StartExecution(ctx, fleetArn, "fleet-1", string(in))
	if err != nil {
		t.Fatal(err)
	}
	p := h.wait(t, x)
	if p.Status != "SUCCEEDED" {
		t.Fatalf("fleet %s %s %s", p.Status, p.Error, p.Cause)
	}
	var results []struct{ User, Status string }
	if err := json.Unmarshal(p.Output, &results); err != nil {
		t.Fatalf("fleet output %s: %v", p.Output, err)
	}
	if len(results) != len(users) {
		t.Fatalf("fleet output %s", p.Output)
	}
	for i, r := range results {
		if r.User != users[i] || r.Status != "SUCCEEDED" {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	list, err := h.client.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(childArn), StatusFilter: types.ExecutionStatusSucceeded})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Executions) != len(users) {
		t.Errorf("%d succeeded child executions, want %d", len(list.Executions), len(users))
	}
	children, err := h.srv.ListExecutions(ctx, childArn, "")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range children {
		names[c.Name] = c.Status == "SUCCEEDED"
	}
	for _, u := range users {
		if !names[u] {
			t.Errorf("no succeeded child named %s among %v", u, names)
		}
	}
}

// A parent that stops waiting on a .sync:2 child — stopped, or its Task timed out — stops
// the child too.
func TestParentThatStopsWaitingAbortsSyncChild(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	blockArn := h.create(t, "block", blockDef)
	cases := []struct {
		name, definition string
		end              func(t *testing.T, parent string)
		status, errName  string
	}{
		{"parent stopped", parentDef(sfnapi.ResourceStartExecutionSync2, blockArn), func(t *testing.T, parent string) {
			if _, err := h.srv.StopExecution(ctx, parent, "Operator.Stop", "fleet cancelled"); err != nil {
				t.Fatal(err)
			}
		}, "ABORTED", "Operator.Stop"},
		{"parent task timed out", `{"StartAt":"Child","States":{"Child":{"Type":"Task","Resource":"` + sfnapi.ResourceStartExecutionSync2 + `","TimeoutSeconds":600,
			"Parameters":{"StateMachineArn":"` + blockArn + `","Input":{},"Name.$":"$.userName"},"End":true}}}`, func(t *testing.T, parent string) {
			h.clock.Advance(601 * time.Second)
		}, "FAILED", "States.Timeout"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parentArn := h.create(t, "parent-"+string(rune('a'+i)), tc.definition)
			user := "user-" + string(rune('a'+i))
			x, err := h.srv.StartExecution(ctx, parentArn, "", `{"userName":"`+user+`"}`)
			if err != nil {
				t.Fatal(err)
			}
			child := h.awaitBlocked(t)
			if want := "arn:aws:states:us-east-1:123456789012:execution:block:" + user; child != want {
				t.Fatalf("blocked %s, want %s", child, want)
			}
			tc.end(t, x)
			if p := h.wait(t, x); p.Status != tc.status || p.Error != tc.errName {
				t.Errorf("parent %s %s, want %s %s", p.Status, p.Error, tc.status, tc.errName)
			}
			c := h.wait(t, child)
			if c.Status != "ABORTED" || !strings.Contains(c.Cause, x) {
				t.Errorf("child %s %q, want ABORTED naming the parent", c.Status, c.Cause)
			}
		})
	}
}

// A child that cannot start fails the parent's Task with the error Step Functions gives its
// own service integration: StepFunctions.<Exception>Exception.
func TestChildStartErrorsFailTheTask(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	childArn := h.create(t, "rotate", childDef)
	cases := []struct {
		name, child, user string
		runs              int // the parent runs this often with the same input; the last run is checked
		errName, cause    string
	}{
		{"unknown child machine", machineArn("absent"), "gina", 1, "StepFunctions.StateMachineDoesNotExistException", "absent"},
		{"child name already used by an ended execution", childArn, "hank", 2, "StepFunctions.ExecutionAlreadyExistsException", "hank"},
		{"child name that is not a valid name", childArn, "a b", 1, "StepFunctions.InvalidNameException", "a b"},
		{"no StateMachineArn parameter", "", "ivan", 1, "StepFunctions.ValidationException", "stateMachineArn"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parentArn := h.create(t, "parent-"+string(rune('a'+i)), parentDef(sfnapi.ResourceStartExecutionSync2, tc.child))
			var p sfnapi.Execution
			for run := 0; run < tc.runs; run++ {
				x, err := h.srv.StartExecution(ctx, parentArn, "", `{"userName":"`+tc.user+`"}`)
				if err != nil {
					t.Fatal(err)
				}
				p = h.wait(t, x)
			}
			if p.Status != "FAILED" || p.Error != tc.errName || !strings.Contains(p.Cause, tc.cause) || !strings.Contains(p.Cause, "Service: AWSStepFunctions") {
				t.Errorf("parent %s %q %q, want FAILED %s with a cause naming %q", p.Status, p.Error, p.Cause, tc.errName, tc.cause)
			}
		})
	}
}

// taskEvents returns the Task* events (TaskStateEntered/Exited aside) of an execution's
// history as the sfn SDK client reads it.
func taskEvents(t *testing.T, h *harness, arn string) []types.HistoryEvent {
	t.Helper()
	out, err := h.client.GetExecutionHistory(context.Background(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	var events []types.HistoryEvent
	for _, e := range out.Events {
		if typ := string(e.Type); strings.HasPrefix(typ, "Task") && !strings.HasPrefix(typ, "TaskState") {
			events = append(events, e)
		}
	}
	return events
}

func eventTypeList(events []types.HistoryEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, string(e.Type))
	}
	return out
}

// checkSubmitted checks a TaskSubmitted event: the integration's names and StartExecution's
// response for the child, and nothing else.
func checkSubmitted(t *testing.T, e types.HistoryEvent, resource, child string, childStart time.Time) {
	t.Helper()
	d := e.TaskSubmittedEventDetails
	if e.Type != types.HistoryEventTypeTaskSubmitted || d == nil {
		t.Fatalf("event %s has no TaskSubmitted details", e.Type)
	}
	if aws.ToString(d.ResourceType) != "states" || "arn:aws:states:::states:"+aws.ToString(d.Resource) != resource || d.OutputDetails == nil || d.OutputDetails.Truncated {
		t.Errorf("TaskSubmitted resource %s / %s, outputDetails %+v; want states / %s", aws.ToString(d.ResourceType), aws.ToString(d.Resource), d.OutputDetails, resource)
	}
	var resp map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &resp); err != nil {
		t.Fatalf("TaskSubmitted output %q: %v", aws.ToString(d.Output), err)
	}
	if len(resp) != 2 || resp["ExecutionArn"] != child || resp["StartDate"] != float64(childStart.UnixMilli()) {
		t.Errorf("TaskSubmitted output %s, want StartExecution's {ExecutionArn: %s, StartDate: %d}", aws.ToString(d.Output), child, childStart.UnixMilli())
	}
	if !aws.ToTime(e.Timestamp).Equal(childStart) {
		t.Errorf("TaskSubmitted at %v, want when the child started %v", aws.ToTime(e.Timestamp), childStart)
	}
}

// A .sync parent's history reads as on AWS: TaskSubmitted with StartExecution's response
// when the child starts, TaskSucceeded with the child's description when it ends.
func TestSyncTaskHistorySubmitsWhenTheChildStarts(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	// The child spends an hour (virtual) between its start and its end.
	childArn := h.create(t, "slow", `{"StartAt":"Hold","States":{"Hold":{"Type":"Wait","Seconds":3600,"Next":"Done"},"Done":{"Type":"Pass","Result":{"rotated":true},"End":true}}}`)
	for i, resource := range []string{sfnapi.ResourceStartExecutionSync, sfnapi.ResourceStartExecutionSync2} {
		t.Run(resource, func(t *testing.T) {
			user := "sync-" + string(rune('a'+i))
			parentArn := h.create(t, "parent-"+string(rune('a'+i)), parentDef(resource, childArn))
			x, err := h.srv.StartExecution(ctx, parentArn, "", `{"userName":"`+user+`"}`)
			if err != nil {
				t.Fatal(err)
			}
			if p := h.wait(t, x); p.Status != "SUCCEEDED" {
				t.Fatalf("parent %s %s %s", p.Status, p.Error, p.Cause)
			}
			child := "arn:aws:states:us-east-1:123456789012:execution:slow:" + user
			c, err := h.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(child)})
			if err != nil {
				t.Fatal(err)
			}
			events := taskEvents(t, h, x)
			if got := eventTypeList(events); strings.Join(got, ",") != "TaskScheduled,TaskStarted,TaskSubmitted,TaskSucceeded" {
				t.Fatalf("task events %v", got)
			}
			checkSubmitted(t, events[2], resource, child, aws.ToTime(c.StartDate))
			done := events[3]
			if stop := aws.ToTime(c.StopDate); !aws.ToTime(done.Timestamp).Equal(stop) || !stop.Equal(aws.ToTime(c.StartDate).Add(time.Hour)) {
				t.Errorf("TaskSucceeded at %v, want when the child ended %v (an hour after it started %v)", aws.ToTime(done.Timestamp), stop, aws.ToTime(c.StartDate))
			}
			var result struct{ ExecutionArn, Status string }
			if err := json.Unmarshal([]byte(aws.ToString(done.TaskSucceededEventDetails.Output)), &result); err != nil || result.ExecutionArn != child || result.Status != "SUCCEEDED" {
				t.Errorf("TaskSucceeded output %s (%v), want the child's description", aws.ToString(done.TaskSucceededEventDetails.Output), err)
			}
		})
	}
}

// While the child runs, the parent's history already holds TaskSubmitted and nothing after
// it; the child's end (here: stopped) then fails the Task.
func TestSyncTaskHistoryWhileTheChildRuns(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	blockArn := h.create(t, "block", blockDef)
	parentArn := h.create(t, "parent", parentDef(sfnapi.ResourceStartExecutionSync2, blockArn))
	x, err := h.srv.StartExecution(ctx, parentArn, "", `{"userName":"live"}`)
	if err != nil {
		t.Fatal(err)
	}
	child := h.awaitBlocked(t)
	// The child's task can begin before the parent records TaskSubmitted: wait for it.
	var events []types.HistoryEvent
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		events = taskEvents(t, h, x)
		if len(events) >= 3 || time.Now().After(deadline) {
			break
		}
	}
	if got := eventTypeList(events); strings.Join(got, ",") != "TaskScheduled,TaskStarted,TaskSubmitted" {
		t.Fatalf("task events while the child runs %v, want them to end with TaskSubmitted", got)
	}
	checkSubmitted(t, events[2], sfnapi.ResourceStartExecutionSync2, child, start)
	if _, err := h.srv.StopExecution(ctx, child, "Operator.Stop", "not today"); err != nil {
		t.Fatal(err)
	}
	if p := h.wait(t, x); p.Status != "FAILED" || p.Error != "States.TaskFailed" {
		t.Fatalf("parent %s %s, want FAILED States.TaskFailed", p.Status, p.Error)
	}
	events = taskEvents(t, h, x)
	if got := eventTypeList(events); strings.Join(got, ",") != "TaskScheduled,TaskStarted,TaskSubmitted,TaskFailed" {
		t.Errorf("task events %v", got)
	}
}
