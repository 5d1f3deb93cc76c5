package sfnlocal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// A Task's invoker returns the result, or NewTaskFailure for a named error that Retry and
// Catch see; a VirtualClock makes the retry backoff free.
func ExampleRun() {
	sm, err := sfnlocal.Parse([]byte(`{
	  "StartAt": "VerifyKey",
	  "States": {
	    "VerifyKey": {
	      "Type": "Task",
	      "Resource": "arn:aws:lambda:eu-west-1:123456789012:function:verifykey",
	      "Retry": [{"ErrorEquals": ["KeyNotYetValid"], "IntervalSeconds": 2, "MaxAttempts": 5}],
	      "End": true
	    }
	  }
	}`))
	if err != nil {
		panic(err)
	}
	calls := 0
	verify := sfnlocal.TaskInvokerFunc(func(ctx context.Context, req sfnlocal.TaskRequest) (json.RawMessage, error) {
		if calls++; calls < 3 {
			return nil, sfnlocal.NewTaskFailure("KeyNotYetValid", `{"errorMessage":"IAM has not propagated the key yet"}`)
		}
		return json.RawMessage(`{"verified":true}`), nil
	})
	clock := sfnlocal.NewVirtualClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	ex := sfnlocal.Run(context.Background(), sm, json.RawMessage(`{"userName":"s3-signer"}`), sfnlocal.Options{
		Tasks: verify, Clock: clock,
		ExecutionArn: "arn:aws:states:eu-west-1:123456789012:execution:rotate:example",
	})
	fmt.Println(ex.Status, string(ex.Output), ex.StopDate.Sub(ex.StartDate))
	for _, e := range ex.History {
		fmt.Println(e.ID, e.Type)
	}
	// Output:
	// SUCCEEDED {"verified":true} 6s
	// 1 ExecutionStarted
	// 2 TaskStateEntered
	// 3 LambdaFunctionScheduled
	// 4 LambdaFunctionStarted
	// 5 LambdaFunctionFailed
	// 6 LambdaFunctionScheduled
	// 7 LambdaFunctionStarted
	// 8 LambdaFunctionFailed
	// 9 LambdaFunctionScheduled
	// 10 LambdaFunctionStarted
	// 11 LambdaFunctionSucceeded
	// 12 TaskStateExited
	// 13 ExecutionSucceeded
}
