package sfnlocal

import (
	"context"
	"encoding/json"
	"testing"
)

// tenStates is a 10-state workflow shaped like the rotation: tasks with Parameters and
// ResultPath, a Choice, a Wait, Passes.
const tenStates = `{"StartAt":"Begin","States":{
  "Begin":{"Type":"Task","Resource":"arn:aws:lambda:eu-west-1:123456789012:function:createkey","Parameters":{"action":"begin","executionId.$":"$$.Execution.Id","rotation.$":"$"},"Retry":[{"ErrorEquals":["Throttled"],"MaxAttempts":3}],"Next":"Create"},
  "Create":{"Type":"Task","Resource":"arn:aws:lambda:eu-west-1:123456789012:function:createkey","Parameters":{"action":"create","executionId.$":"$$.Execution.Id","rotation.$":"$"},"Next":"Store"},
  "Store":{"Type":"Task","Resource":"arn:aws:lambda:eu-west-1:123456789012:function:storeparam","Parameters":{"action":"store","executionId.$":"$$.Execution.Id","rotation.$":"$"},"Next":"Verify"},
  "Verify":{"Type":"Task","Resource":"arn:aws:lambda:eu-west-1:123456789012:function:verifykey","Parameters":{"action":"verify","executionId.$":"$$.Execution.Id","rotation.$":"$"},"Next":"Grace"},
  "Grace":{"Type":"Wait","SecondsPath":"$.graceSeconds","Next":"InUse"},
  "InUse":{"Type":"Choice","Choices":[{"Variable":"$.stillInUse","BooleanEquals":true,"Next":"Grace"}],"Default":"Deactivate"},
  "Deactivate":{"Type":"Task","Resource":"arn:aws:lambda:eu-west-1:123456789012:function:deleteoldkeys","Parameters":{"action":"deactivate","executionId.$":"$$.Execution.Id","rotation.$":"$"},"Next":"Mark"},
  "Mark":{"Type":"Pass","Result":{"done":true},"ResultPath":"$.marker","Next":"Delete"},
  "Delete":{"Type":"Task","Resource":"arn:aws:lambda:eu-west-1:123456789012:function:deleteoldkeys","Parameters":{"action":"delete","executionId.$":"$$.Execution.Id","rotation.$":"$"},"Next":"Done"},
  "Done":{"Type":"Succeed"}}}`

// stubRotation returns the rotation document it was sent.
var stubRotation = TaskInvokerFunc(func(_ context.Context, req TaskRequest) (json.RawMessage, error) {
	var ev struct {
		Rotation json.RawMessage `json:"rotation"`
	}
	if err := json.Unmarshal(req.Input, &ev); err != nil {
		return nil, err
	}
	return ev.Rotation, nil
})

func TestTenStateWorkflowRuns(t *testing.T) {
	ex, _ := runDef(t, tenStates, `{"userName":"s3-signer","graceSeconds":3600,"stillInUse":false}`, stubRotation)
	wantStatus(t, ex, StatusSucceeded)
	if got := len(ex.StatePath()); got != 10 {
		t.Errorf("entered %d states, want 10: %v", got, ex.StatePath())
	}
}

func BenchmarkRunTenStates(b *testing.B) {
	sm := mustParse(b, tenStates)
	input := json.RawMessage(`{"userName":"s3-signer","parameterName":"/keyrotor/s3-signer","graceSeconds":3600,"inactiveSeconds":86400,"format":"json","stillInUse":false}`)
	b.ReportAllocs()
	for b.Loop() {
		ex := Run(context.Background(), sm, input, Options{Tasks: stubRotation, Clock: NewVirtualClock(testStart), ExecutionArn: testExecArn})
		if ex.Status != StatusSucceeded {
			b.Fatalf("status %s: %s %s", ex.Status, ex.Error, ex.Cause)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	def := []byte(tenStates)
	for b.Loop() {
		if _, err := Parse(def); err != nil {
			b.Fatal(err)
		}
	}
}

// passChoiceTask is a 10-state workflow of Pass, Task and Choice states whose stubs answer
// fixed documents, run on the real clock: nothing but the engine is timed.
const passChoiceTask = `{"StartAt":"Prepare","States":{
  "Prepare":{"Type":"Pass","Parameters":{"userName.$":"$.userName","attempt":0},"ResultPath":"$.context","Next":"Create"},
  "Create":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:create","Parameters":{"action":"create","userName.$":"$.userName"},"ResultPath":"$.created","Next":"Created"},
  "Created":{"Type":"Choice","Choices":[{"Variable":"$.created.ok","BooleanEquals":true,"Next":"Describe"}],"Default":"Failed"},
  "Describe":{"Type":"Pass","Parameters":{"keyId.$":"$.created.keyId","user.$":"$.context.userName"},"ResultPath":"$.key","Next":"Store"},
  "Store":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:store","Parameters":{"action":"store","keyId.$":"$.key.keyId"},"ResultPath":"$.stored","Next":"Stored"},
  "Stored":{"Type":"Choice","Choices":[{"Variable":"$.stored.version","NumericGreaterThan":0,"Next":"Verify"}],"Default":"Failed"},
  "Verify":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:verify","Parameters":{"action":"verify","keyId.$":"$.key.keyId","version.$":"$.stored.version"},"ResultPath":"$.verified","Next":"Verified"},
  "Verified":{"Type":"Choice","Choices":[{"Variable":"$.verified.ok","BooleanEquals":true,"Next":"Summarize"}],"Default":"Failed"},
  "Summarize":{"Type":"Pass","Parameters":{"userName.$":"$.userName","keyId.$":"$.key.keyId","version.$":"$.stored.version"},"Next":"Done"},
  "Done":{"Type":"Succeed"},
  "Failed":{"Type":"Fail","Error":"BenchFailed"}}}`

var fixedResults = map[string]json.RawMessage{
	"Create": json.RawMessage(`{"ok":true,"keyId":"AKIAEXAMPLE0000000001"}`),
	"Store":  json.RawMessage(`{"version":3}`),
	"Verify": json.RawMessage(`{"ok":true}`),
}

func BenchmarkRunPassChoiceTaskRealClock(b *testing.B) {
	sm := mustParse(b, passChoiceTask)
	tasks := TaskInvokerFunc(func(_ context.Context, req TaskRequest) (json.RawMessage, error) {
		return fixedResults[req.StateName], nil
	})
	input := json.RawMessage(`{"userName":"s3-signer"}`)
	opts := Options{Tasks: tasks, ExecutionArn: testExecArn, StateMachineArn: testSMArn, Name: "run"}
	b.ReportAllocs()
	for b.Loop() {
		if ex := Run(context.Background(), sm, input, opts); ex.Status != StatusSucceeded {
			b.Fatalf("status %s: %s %s", ex.Status, ex.Error, ex.Cause)
		}
	}
}
