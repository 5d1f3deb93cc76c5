package sfnlocal

import (
	"strings"
	"testing"
)

func TestInputOutputProcessing(t *testing.T) {
	input := `{"a":{"b":[10,20,30],"c":"x"},"list":[{"id":1,"ok":true},{"id":2,"ok":false},{"id":3,"ok":true}],"s":"str"}`
	cases := []struct {
		name, fields, want string
	}{
		{"InputPath selects", `"InputPath":"$.a"`, `{"b":[10,20,30],"c":"x"}`},
		{"InputPath null gives {}", `"InputPath":null`, `{}`},
		{"Parameters static and dynamic", `"Parameters":{"k":"v","n":{"b0.$":"$.a.b[0]","last.$":"$.a.b[-1]"},"arr":[1,{"c.$":"$.a.c"}]}`, `{"k":"v","n":{"b0":10,"last":30},"arr":[1,{"c":"x"}]}`},
		{"Parameters after InputPath", `"InputPath":"$.a","Parameters":{"c.$":"$.c"}`, `{"c":"x"}`},
		{"Result replaces", `"Result":{"r":1}`, `{"r":1}`},
		{"Result with ResultPath", `"Result":{"r":1},"ResultPath":"$.res"`, `{"a":{"b":[10,20,30],"c":"x"},"list":[{"id":1,"ok":true},{"id":2,"ok":false},{"id":3,"ok":true}],"s":"str","res":{"r":1}}`},
		{"ResultPath creates nested objects", `"Result":7,"ResultPath":"$.x.y.z","OutputPath":"$.x"`, `{"y":{"z":7}}`},
		{"ResultPath overwrites a nested member", `"Result":"new","ResultPath":"$.a.c","OutputPath":"$.a"`, `{"b":[10,20,30],"c":"new"}`},
		{"ResultPath into an array element", `"Result":"new","ResultPath":"$.a.b[1]","OutputPath":"$.a.b"`, `[10,"new",30]`},
		{"ResultPath null keeps the input", `"Result":"ignored","ResultPath":null,"OutputPath":"$.s"`, `"str"`},
		{"OutputPath selects", `"OutputPath":"$.a.c"`, `"x"`},
		{"OutputPath null gives {}", `"OutputPath":null`, `{}`},
		{"wildcard path yields a list", `"Parameters":{"ids.$":"$.list[*].id"}`, `{"ids":[1,2,3]}`},
		{"filter path", `"Parameters":{"ids.$":"$.list[?(@.ok == true)].id"}`, `{"ids":[1,3]}`},
		{"filter comparing numbers", `"Parameters":{"ids.$":"$.list[?(@.id > 1 && @.id < 3)].id"}`, `{"ids":[2]}`},
		{"slice path", `"Parameters":{"s.$":"$.a.b[0:2]"}`, `{"s":[10,20]}`},
		{"recursive descent", `"Parameters":{"ids.$":"$..id"}`, `{"ids":[1,2,3]}`},
		{"bracket notation", `"Parameters":{"c.$":"$['a']['c']"}`, `{"c":"x"}`},
		{"context object", `"Parameters":{"id.$":"$$.Execution.Id","name.$":"$$.Execution.Name","input.$":"$$.Execution.Input.s","role.$":"$$.Execution.RoleArn","start.$":"$$.Execution.StartTime","sm.$":"$$.StateMachine.Id","smName.$":"$$.StateMachine.Name","state.$":"$$.State.Name","entered.$":"$$.State.EnteredTime","retries.$":"$$.State.RetryCount"}`,
			`{"id":"` + testExecArn + `","name":"exec-1","input":"str","role":"arn:aws:iam::123456789012:role/sfn","start":"2026-03-01T12:00:00.000Z","sm":"` + testSMArn + `","smName":"rotate","state":"P","entered":"2026-03-01T12:00:00.000Z","retries":0}`},
		{"whole context object path", `"Parameters":{"c.$":"$$.State"}`, `{"c":{"EnteredTime":"2026-03-01T12:00:00.000Z","Name":"P","RetryCount":0}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex, _ := runDef(t, pass(tc.fields), input, nil)
			wantStatus(t, ex, StatusSucceeded)
			jsonEq(t, ex.Output, tc.want)
		})
	}
}

func TestTaskResultSelectorAndResultPath(t *testing.T) {
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
	  "Parameters":{"FunctionName":"f","Payload.$":"$"},
	  "ResultSelector":{"body.$":"$.Payload","code.$":"$.StatusCode","n.$":"States.ArrayLength($.Payload.items)"},
	  "ResultPath":"$.out","OutputPath":"$.out","End":true}}}`
	tasks := TaskInvokerFunc(func(_ ctxT, req TaskRequest) (rawT, error) {
		return rawT(`{"StatusCode":200,"Payload":` + string(mustField(t, req.Input, "Payload")) + `}`), nil
	})
	ex, _ := runDef(t, def, `{"items":[1,2,3]}`, tasks)
	wantStatus(t, ex, StatusSucceeded)
	jsonEq(t, ex.Output, `{"body":{"items":[1,2,3]},"code":200,"n":3}`)
}

func TestPathErrorsFailWithRuntimeError(t *testing.T) {
	cases := []struct {
		name, def, input, err, cause string
	}{
		{"InputPath missing", pass(`"InputPath":"$.nope"`), `{}`, ErrRuntime, "$.nope"},
		{"OutputPath missing", pass(`"OutputPath":"$.nope"`), `{}`, ErrRuntime, "OutputPath"},
		{"Parameters path missing", pass(`"Parameters":{"x.$":"$.nope"}`), `{"a":1}`, ErrRuntime, `'x.$'`},
		{"ResultPath through a string", pass(`"Result":1,"ResultPath":"$.s.t"`), `{"s":"str"}`, ErrResultPathMatchFailure, "$.s.t"},
		{"Wait SecondsPath not a number", `{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.s","End":true}}}`, `{"s":"x"}`, ErrRuntime, "SecondsPath"},
		{"Wait TimestampPath not a timestamp", `{"StartAt":"W","States":{"W":{"Type":"Wait","TimestampPath":"$.s","End":true}}}`, `{"s":"x"}`, ErrRuntime, "TimestampPath"},
		{"Map items not an array", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.s","ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`, `{"s":"x"}`, ErrRuntime, "must be an array"},
		{"invalid execution input", pass(`"Result":1`), `{nope`, ErrRuntime, "not valid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex, _ := runDef(t, tc.def, tc.input, nil)
			wantFailed(t, ex, tc.err, tc.cause)
		})
	}
}

func TestRuntimeErrorIsNotCaughtByStatesALL(t *testing.T) {
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + testLambda + `","InputPath":"$.nope",
	  "Retry":[{"ErrorEquals":["States.ALL"]}],"Catch":[{"ErrorEquals":["States.ALL"],"Next":"S"}],"End":true},"S":{"Type":"Succeed"}}}`
	ex, _ := runDef(t, def, `{}`, echo)
	wantFailed(t, ex, ErrRuntime, "$.nope")
}

func TestDataLimitExceeded(t *testing.T) {
	big := strings.Repeat("x", MaxPayloadBytes)
	// A Task result over the quota is the task's failure, which Catch handles, even with
	// States.ALL (recorded by AWS: localstack tests/aws/services/stepfunctions/v2/error_handling/
	// test_states_errors.snapshot.json); uncaught, it fails the execution naming the function.
	tasks := TaskInvokerFunc(func(_ ctxT, req TaskRequest) (rawT, error) { return rawT(`"` + big + `"`), nil })
	t.Run("task result over 256 KiB is caught", func(t *testing.T) {
		def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + testLambda + `","Catch":[{"ErrorEquals":["States.ALL"],"Next":"S"}],"End":true},"S":{"Type":"Succeed"}}}`
		ex, _ := runDef(t, def, `{}`, tasks)
		wantStatus(t, ex, StatusSucceeded)
		if !strings.Contains(string(ex.Output), ErrDataLimitExceeded) {
			t.Errorf("output %s does not carry %s", ex.Output, ErrDataLimitExceeded)
		}
	})
	t.Run("task result over 256 KiB uncaught", func(t *testing.T) {
		def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + testLambda + `","End":true}}}`
		ex, _ := runDef(t, def, `{}`, tasks)
		wantFailed(t, ex, ErrDataLimitExceeded, testLambda)
	})
	t.Run("state output over 256 KiB", func(t *testing.T) {
		ex, _ := runDef(t, pass(`"Parameters":{"a.$":"$.s","b.$":"$.s"}`), `{"s":"`+big[:MaxPayloadBytes/2]+`"}`, nil)
		wantFailed(t, ex, ErrDataLimitExceeded, "P")
	})
	t.Run("execution input over 256 KiB", func(t *testing.T) {
		ex, _ := runDef(t, pass(`"Result":1`), `{"s":"`+big+`"}`, nil)
		wantFailed(t, ex, ErrDataLimitExceeded, "execution input")
	})
}
