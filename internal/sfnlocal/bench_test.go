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
