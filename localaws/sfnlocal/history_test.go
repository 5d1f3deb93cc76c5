package sfnlocal

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestHistoryEventWireShape(t *testing.T) {
	cases := []struct {
		name string
		ev   HistoryEvent
		want string
	}{
		{"state entered details under stateEnteredEventDetails",
			HistoryEvent{Timestamp: time.UnixMilli(1767225600123), Type: "TaskStateEntered", ID: 2, PreviousEventID: 1,
				Details: &StateEnteredEventDetails{Name: "CreateKey", Input: `{"a":"<&>"}`, InputDetails: notTruncated}},
			`{"timestamp":1767225600.123,"type":"TaskStateEntered","id":2,"previousEventId":1,"stateEnteredEventDetails":{"name":"CreateKey","input":"{\"a\":\"<&>\"}","inputDetails":{"truncated":false}}}`},
		{"state exited details under stateExitedEventDetails",
			HistoryEvent{Timestamp: time.Unix(1767225600, 0), Type: "MapStateExited", ID: 9, PreviousEventID: 8,
				Details: &StateExitedEventDetails{Name: "M", Output: `[]`, OutputDetails: notTruncated}},
			`{"timestamp":1767225600,"type":"MapStateExited","id":9,"previousEventId":8,"stateExitedEventDetails":{"name":"M","output":"[]","outputDetails":{"truncated":false}}}`},
		{"execution failed",
			HistoryEvent{Timestamp: time.Unix(1, 0), Type: "ExecutionFailed", ID: 3, PreviousEventID: 2, Details: &ErrorCauseDetails{Error: "E", Cause: "c"}},
			`{"timestamp":1,"type":"ExecutionFailed","id":3,"previousEventId":2,"executionFailedEventDetails":{"error":"E","cause":"c"}}`},
		{"event without details",
			HistoryEvent{Timestamp: time.Unix(1, 0), Type: "LambdaFunctionStarted", ID: 4, PreviousEventID: 3},
			`{"timestamp":1,"type":"LambdaFunctionStarted","id":4,"previousEventId":3}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.ev.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
		})
	}
}

func TestHistoryIsChainedAndStreamed(t *testing.T) {
	def := `{"StartAt":"Begin","States":{
	  "Begin":{"Type":"Pass","Next":"Create"},
	  "Create":{"Type":"Task","Resource":"` + testLambda + `","Retry":[{"ErrorEquals":["Throttled"]}],"Next":"Done"},
	  "Done":{"Type":"Succeed"}}}`
	var streamed []HistoryEvent
	tasks, _ := failingTask("Throttled")
	ex, _ := runDef(t, def, `{"userName":"s3-signer"}`, tasks, func(o *Options) {
		o.OnEvent = func(e HistoryEvent) { streamed = append(streamed, e) }
	})
	wantStatus(t, ex, StatusSucceeded)
	want := []string{"ExecutionStarted", "PassStateEntered", "PassStateExited", "TaskStateEntered",
		"LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionFailed",
		"LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded", "TaskStateExited",
		"SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded"}
	if got := eventTypes(ex); mustJSON(got) != mustJSON(want) {
		t.Fatalf("events\n %v\nwant\n %v", got, want)
	}
	for i, e := range ex.History {
		wantPrev := int64(i)
		if i == 1 {
			wantPrev = 0 // as AWS records it: the first state entry follows no event
		}
		if e.ID != int64(i+1) || e.PreviousEventID != wantPrev {
			t.Errorf("event %d (%s): id %d previous %d", i, e.Type, e.ID, e.PreviousEventID)
		}
	}
	if mustJSON(streamed) != mustJSON(ex.History) {
		t.Error("OnEvent did not see the same events as the history")
	}
	b, _ := json.Marshal(ex.History[0])
	if !strings.Contains(string(b), `"executionStartedEventDetails":{"input":"{\"userName\":\"s3-signer\"}","inputDetails":{"truncated":false},"roleArn":"arn:aws:iam::123456789012:role/sfn"}`) {
		t.Errorf("ExecutionStarted = %s", b)
	}
	b, _ = json.Marshal(ex.History[len(ex.History)-1])
	if !strings.Contains(string(b), `"executionSucceededEventDetails":{"output":"{\"userName\":\"s3-signer\"}"`) {
		t.Errorf("ExecutionSucceeded = %s", b)
	}
	if mustJSON(ex.StatePath()) != `["Begin","Create","Done"]` {
		t.Errorf("state path %v", ex.StatePath())
	}
}

func TestBranchEventsChainFromTheirParent(t *testing.T) {
	def := `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[
	  {"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}},{"StartAt":"B","States":{"B":{"Type":"Pass","End":true}}}],"End":true}}}`
	ex, _ := runDef(t, def, `{}`, nil)
	wantStatus(t, ex, StatusSucceeded)
	var started int64
	byID := map[int64]HistoryEvent{}
	for _, e := range ex.History {
		byID[e.ID] = e
		if e.Type == "ParallelStateStarted" {
			started = e.ID
		}
	}
	for _, e := range ex.History {
		if e.Type == "PassStateEntered" && e.PreviousEventID != started {
			t.Errorf("%s of %s follows event %d, want ParallelStateStarted (%d)", e.Type, e.Details.(*StateEnteredEventDetails).Name, e.PreviousEventID, started)
		}
		if e.PreviousEventID >= e.ID {
			t.Errorf("event %d points forward to %d", e.ID, e.PreviousEventID)
		}
	}
}

func TestStatePathFromAHandBuiltExecution(t *testing.T) {
	ex := &Execution{History: []HistoryEvent{
		{Type: "ExecutionStarted"},
		{Type: "PassStateEntered", Details: &StateEnteredEventDetails{Name: "One"}},
		{Type: "TaskStateEntered", Details: &StateEnteredEventDetails{Name: "Two"}},
	}}
	if got := ex.StatePath(); mustJSON(got) != `["One","Two"]` {
		t.Errorf("StatePath = %v", got)
	}
}

func TestARNRegion(t *testing.T) {
	cases := []struct{ arn, want string }{
		{testExecArn, "eu-west-1"},
		{"arn:aws:states:ap-south-2", "ap-south-2"},
		{"arn:aws:states::123456789012:execution:m:x", "us-east-1"},
		{"arn:aws:states", "us-east-1"},
		{"", "us-east-1"},
	}
	for _, tc := range cases {
		if got := arnRegion(tc.arn); got != tc.want {
			t.Errorf("arnRegion(%q) = %q, want %q", tc.arn, got, tc.want)
		}
	}
}
