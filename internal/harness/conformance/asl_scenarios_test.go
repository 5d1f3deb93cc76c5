package conformance

import "encoding/json"

const fn = "arn:aws:lambda:us-east-1:123456789012:function:work"

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// aslScenarios are focused cases of the States Language features both engines implement as AWS
// documents them.
func aslScenarios() []Scenario {
	return []Scenario{
		{
			Name: "choice/string-numeric-boolean-operators",
			Definition: raw(`{"StartAt": "Route", "States": {
			  "Route": {"Type": "Choice", "Choices": [
			    {"Variable": "$.s", "StringEquals": "nope", "Next": "Wrong"},
			    {"And": [
			      {"Variable": "$.s", "StringGreaterThan": "abc"},
			      {"Variable": "$.s", "StringLessThanEquals": "abd"},
			      {"Variable": "$.s", "StringMatches": "a*d"},
			      {"Variable": "$.n", "NumericGreaterThanEquals": 10},
			      {"Variable": "$.n", "NumericLessThan": 10.5},
			      {"Variable": "$.n", "NumericEqualsPath": "$.m"},
			      {"Variable": "$.b", "BooleanEquals": true},
			      {"Not": {"Variable": "$.s", "StringEqualsPath": "$.t"}}
			    ], "Next": "Right"}
			  ], "Default": "Wrong"},
			  "Right": {"Type": "Pass", "Result": "right", "ResultPath": "$.route", "End": true},
			  "Wrong": {"Type": "Pass", "Result": "wrong", "ResultPath": "$.route", "End": true}}}`),
			Input: raw(`{"s": "abd", "t": "abc", "n": 10, "m": 10.0, "b": true}`),
			Want:  &Want{Path: []string{"Route", "Right"}, Status: "SUCCEEDED"},
		},
		{
			Name: "choice/type-tests-and-or",
			Definition: raw(`{"StartAt": "Types", "States": {
			  "Types": {"Type": "Choice", "Choices": [
			    {"And": [
			      {"Not": {"Variable": "$.missing", "IsPresent": true}},
			      {"Variable": "$.nil", "IsNull": true},
			      {"Variable": "$.n", "IsNumeric": true},
			      {"Variable": "$.s", "IsString": true},
			      {"Variable": "$.b", "IsBoolean": true},
			      {"Variable": "$.ts", "IsTimestamp": true},
			      {"Not": {"Variable": "$.s", "IsTimestamp": true}},
			      {"Not": {"Variable": "$.n", "IsNull": true}},
			      {"Or": [{"Variable": "$.n", "IsString": true}, {"Variable": "$.n", "NumericGreaterThan": 1}]}
			    ], "Next": "Yes"}
			  ], "Default": "No"},
			  "Yes": {"Type": "Succeed"},
			  "No": {"Type": "Fail", "Error": "Wrong", "Cause": "a type test failed"}}}`),
			Input: raw(`{"nil": null, "n": 2, "s": "x", "b": false, "ts": "2026-11-26T01:02:03Z"}`),
			Want:  &Want{Path: []string{"Types", "Yes"}, Status: "SUCCEEDED"},
		},
		{
			Name: "choice/timestamp-operators-and-path-variants",
			Definition: raw(`{"StartAt": "When", "States": {
			  "When": {"Type": "Choice", "Choices": [
			    {"And": [
			      {"Variable": "$.a", "TimestampLessThan": "2026-11-26T12:00:00Z"},
			      {"Variable": "$.a", "TimestampLessThanPath": "$.b"},
			      {"Variable": "$.b", "TimestampGreaterThanEqualsPath": "$.a"},
			      {"Variable": "$.a", "TimestampEquals": "2026-11-26T01:00:00Z"},
			      {"Variable": "$.x", "NumericLessThanPath": "$.y"},
			      {"Variable": "$.x", "StringLessThanPath": "$.name"}
			    ], "Next": "Early"}
			  ], "Default": "Late"},
			  "Early": {"Type": "Pass", "End": true},
			  "Late": {"Type": "Pass", "End": true}}}`),
			Input: raw(`{"a": "2026-11-26T01:00:00Z", "b": "2026-11-26T02:00:00Z", "x": 1, "y": 2, "name": "z"}`),
			Want:  &Want{Path: []string{"When", "Late"}, Status: "SUCCEEDED"},
		},
		{
			Name: "choice/no-match-fails-with-states-no-choice-matched",
			Definition: raw(`{"StartAt": "Pick", "States": {
			  "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "One"}]},
			  "One": {"Type": "Succeed"}}}`),
			Input:       raw(`{"n": 2}`),
			IgnoreCause: true,
			Want:        &Want{Path: []string{"Pick"}, Status: "FAILED", Error: "States.NoChoiceMatched"},
		},
		{
			Name: "choice/type-mismatch-is-no-match",
			Definition: raw(`{"StartAt": "Pick", "States": {
			  "Pick": {"Type": "Choice", "Choices": [
			    {"Variable": "$.n", "StringEquals": "1", "Next": "AsString"},
			    {"Variable": "$.s", "NumericEquals": 1, "Next": "AsNumber"},
			    {"Variable": "$.s", "BooleanEquals": true, "Next": "AsBoolean"}
			  ], "Default": "NoMatch"},
			  "AsString": {"Type": "Pass", "End": true},
			  "AsNumber": {"Type": "Pass", "End": true},
			  "AsBoolean": {"Type": "Pass", "End": true},
			  "NoMatch": {"Type": "Pass", "End": true}}}`),
			Input: raw(`{"n": 1, "s": "1"}`),
			Want:  &Want{Path: []string{"Pick", "NoMatch"}, Status: "SUCCEEDED"},
		},
		{
			Name: "choice/missing-variable-is-a-runtime-error",
			Definition: raw(`{"StartAt": "Pick", "States": {
			  "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.absent", "StringEquals": "x", "Next": "X"}], "Default": "Other"},
			  "X": {"Type": "Pass", "End": true},
			  "Other": {"Type": "Pass", "End": true}}}`),
			Input:       raw(`{}`),
			IgnoreCause: true,
			Want:        &Want{Path: []string{"Pick"}, Status: "FAILED", Error: "States.Runtime"},
		},
		{
			Name: "wait/seconds-timestamp-and-paths",
			Definition: raw(`{"StartAt": "S", "States": {
			  "S": {"Type": "Wait", "Seconds": 5, "Next": "SP"},
			  "SP": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "T"},
			  "T": {"Type": "Wait", "Timestamp": "2026-11-26T00:00:10Z", "Next": "TP"},
			  "TP": {"Type": "Wait", "TimestampPath": "$.until", "OutputPath": "$.keep", "End": true}}}`),
			Input: raw(`{"delay": 3, "until": "2026-11-26T00:00:20Z", "keep": {"k": 1}}`),
			Want:  &Want{Path: []string{"S", "SP", "T", "TP"}, Status: "SUCCEEDED"},
		},
		{
			Name: "pass/result-parameters-resultpath-outputpath",
			Definition: raw(`{"StartAt": "Fixed", "States": {
			  "Fixed": {"Type": "Pass", "Result": {"a": [1, 2], "b": {"c": "d"}}, "ResultPath": "$.fixed", "Next": "Shape"},
			  "Shape": {"Type": "Pass", "InputPath": "$.fixed", "Parameters": {"first.$": "$.a[0]", "c.$": "$.b.c", "const": true, "nested": {"all.$": "$.a"}}, "ResultPath": "$.shaped", "Next": "Drop"},
			  "Drop": {"Type": "Pass", "ResultPath": null, "Result": "ignored", "Next": "Pick"},
			  "Pick": {"Type": "Pass", "OutputPath": "$.shaped", "End": true}}}`),
			Input: raw(`{"orig": "x"}`),
			Want:  &Want{Path: []string{"Fixed", "Shape", "Drop", "Pick"}, Status: "SUCCEEDED"},
		},
		{
			Name: "paths/task-inputpath-parameters-resultselector-resultpath-outputpath",
			Definition: raw(`{"StartAt": "Call", "States": {
			  "Call": {"Type": "Task", "Resource": "` + fn + `",
			    "InputPath": "$.req",
			    "Parameters": {"id.$": "$.id", "exec.$": "$$.Execution.Id", "sm.$": "$$.StateMachine.Id", "tag": "t"},
			    "ResultSelector": {"value.$": "$.body.value", "second.$": "$.body.items[1]"},
			    "ResultPath": "$.res",
			    "OutputPath": "$.res", "End": true}}}`),
			Input: raw(`{"req": {"id": 7, "other": 1}, "keep": 2}`),
			Tasks: map[string][]Result{fn: {out(`{"body": {"value": "v", "items": [1, 2, 3]}, "noise": 1}`)}},
			Want:  &Want{Path: []string{"Call"}, Status: "SUCCEEDED"},
		},
		{
			Name: "paths/resultpath-into-nested-new-field",
			Definition: raw(`{"StartAt": "Call", "States": {
			  "Call": {"Type": "Task", "Resource": "` + fn + `", "ResultPath": "$.a.b.c", "End": true}}}`),
			Input: raw(`{"a": {"keep": 1}}`),
			Tasks: map[string][]Result{"Call": {out(`[1, {"x": null}]`)}},
			Want:  &Want{Path: []string{"Call"}, Status: "SUCCEEDED"},
		},
		{
			Name: "intrinsics/array-functions",
			Definition: raw(`{"StartAt": "Arrays", "States": {
			  "Arrays": {"Type": "Pass", "Parameters": {
			    "array.$": "States.Array($.a, $.b, 3)",
			    "partition.$": "States.ArrayPartition($.list, 2)",
			    "contains.$": "States.ArrayContains($.list, 3)",
			    "range.$": "States.ArrayRange(1, 9, 2)",
			    "item.$": "States.ArrayGetItem($.list, 1)",
			    "length.$": "States.ArrayLength($.list)",
			    "unique.$": "States.ArrayUnique($.dups)"
			  }, "End": true}}}`),
			Input: raw(`{"a": "x", "b": {"y": 1}, "list": [1, 2, 3, 4, 5], "dups": [1, 1, 2, "a", "a"]}`),
			Want:  &Want{Path: []string{"Arrays"}, Status: "SUCCEEDED"},
		},
		{
			Name: "intrinsics/strings-json-encoding-math",
			Definition: raw(`{"StartAt": "Strings", "States": {
			  "Strings": {"Type": "Pass", "Parameters": {
			    "format.$": "States.Format('Hello {}, you are {} ({})', $.name, $.age, $.ok)",
			    "escaped.$": "States.Format('a\\{b\\} {}', $.name)",
			    "parsed.$": "States.StringToJson($.json)",
			    "string.$": "States.JsonToString($.obj)",
			    "split.$": "States.StringSplit($.csv, ',')",
			    "b64.$": "States.Base64Encode($.name)",
			    "decoded.$": "States.Base64Decode('aGVsbG8=')",
			    "hash.$": "States.Hash($.name, 'SHA-256')",
			    "md5.$": "States.Hash($.name, 'MD5')",
			    "merged.$": "States.JsonMerge($.obj, $.other, false)",
			    "sum.$": "States.MathAdd($.age, -2)",
			    "uuidParts.$": "States.ArrayLength(States.StringSplit(States.UUID(), '-'))"
			  }, "End": true}}}`),
			Input: raw(`{"name": "Ada", "age": 36, "ok": true, "json": "{\"k\":[1,2]}", "obj": {"k": "v"}, "other": {"k": "w", "z": 1}, "csv": "a,b,c"}`),
			Want:  &Want{Path: []string{"Strings"}, Status: "SUCCEEDED"},
		},
		{
			Name: "parallel/branches-resultselector",
			Definition: raw(`{"StartAt": "Both", "States": {
			  "Both": {"Type": "Parallel", "Branches": [
			    {"StartAt": "Left", "States": {"Left": {"Type": "Task", "Resource": "` + fn + `", "Parameters": {"side": "left", "v.$": "$.v"}, "End": true}}},
			    {"StartAt": "RightWait", "States": {"RightWait": {"Type": "Wait", "Seconds": 2, "Next": "RightPass"},
			      "RightPass": {"Type": "Pass", "Parameters": {"side": "right", "v.$": "$.v"}, "End": true}}}
			  ], "ResultSelector": {"left.$": "$[0]", "right.$": "$[1].side"}, "ResultPath": "$.both", "Next": "Done"},
			  "Done": {"Type": "Succeed"}}}`),
			Input: raw(`{"v": 5}`),
			Tasks: map[string][]Result{"Left": {out(`{"got": "left"}`)}},
			Want:  &Want{Status: "SUCCEEDED"},
		},
		{
			Name: "parallel/branch-failure-caught",
			Definition: raw(`{"StartAt": "Both", "States": {
			  "Both": {"Type": "Parallel", "Branches": [
			    {"StartAt": "Ok", "States": {"Ok": {"Type": "Pass", "End": true}}},
			    {"StartAt": "Later", "States": {"Later": {"Type": "Wait", "Seconds": 1, "Next": "Breaks"},
			      "Breaks": {"Type": "Task", "Resource": "` + fn + `", "End": true}}}
			  ], "Catch": [{"ErrorEquals": ["Custom.Broken"], "ResultPath": "$.caught", "Next": "Handled"}], "Next": "Unreached"},
			  "Handled": {"Type": "Pass", "End": true},
			  "Unreached": {"Type": "Succeed"}}}`),
			Input: raw(`{}`),
			Tasks: map[string][]Result{"Breaks": {fail("Custom.Broken", "branch two broke")}},
			Want:  &Want{Status: "SUCCEEDED"},
		},
		{
			Name: "map/itemspath-itemselector-maxconcurrency",
			Definition: raw(`{"StartAt": "Each", "States": {
			  "Each": {"Type": "Map", "ItemsPath": "$.users", "MaxConcurrency": 1,
			    "ItemSelector": {"user.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index", "prefix.$": "$.prefix"},
			    "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Rotate", "States": {
			      "Rotate": {"Type": "Task", "Resource": "` + fn + `", "Next": "Tag"},
			      "Tag": {"Type": "Pass", "Parameters": {"done.$": "$.user", "i.$": "$.index"}, "End": true}}},
			    "ResultPath": "$.results", "End": true}}}`),
			Input: raw(`{"prefix": "/keyrotor/", "users": ["a", "b", "c"]}`),
			Tasks: map[string][]Result{"Rotate": {Result{Echo: true}}},
			Want:  &Want{Status: "SUCCEEDED", Calls: map[string]int{"Rotate": 3}},
		},
		{
			Name: "map/iterator-parameters-and-iteration-failure-caught",
			Definition: raw(`{"StartAt": "Each", "States": {
			  "Each": {"Type": "Map", "Parameters": {"n.$": "$$.Map.Item.Value"}, "MaxConcurrency": 1,
			    "Iterator": {"StartAt": "Check", "States": {
			      "Check": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 2, "Next": "TooBig"}], "Default": "Fine"},
			      "TooBig": {"Type": "Fail", "Error": "Item.TooBig", "Cause": "n is over 2"},
			      "Fine": {"Type": "Pass", "End": true}}},
			    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}], "End": true},
			  "Caught": {"Type": "Pass", "End": true}}}`),
			Input: raw(`[1, 2, 3]`),
			Want:  &Want{Status: "FAILED", Error: "States.ResultPathMatchFailure"},
			// The Catch's ResultPath $.error cannot be applied to an array input.
			IgnoreCause: true,
		},
		{
			Name: "map/iteration-failure-caught-on-object-input",
			Definition: raw(`{"StartAt": "Each", "States": {
			  "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1,
			    "ItemProcessor": {"StartAt": "Work", "States": {
			      "Work": {"Type": "Task", "Resource": "` + fn + `", "End": true}}},
			    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}], "End": true},
			  "Caught": {"Type": "Pass", "End": true}}}`),
			Input: raw(`{"items": [1, 2]}`),
			// The last item fails: aws-local-stepfunctions would go on with queued items after a
			// failure, which AWS does not.
			Tasks: map[string][]Result{"Work": {out(`"ok"`), fail("Work.Failed", "item failed")}},
			Want:  &Want{Path: []string{"Each", "Work", "Work", "Caught"}, Status: "SUCCEEDED"},
		},
		{
			Name: "map/iteration-failing-later-does-not-hide-earlier-iterations",
			Definition: raw(`{"StartAt": "Each", "States": {
			  "Each": {"Type": "Map", "ItemsPath": "$.items",
			    "ItemProcessor": {"StartAt": "Check", "States": {
			      "Check": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericGreaterThan": 2, "Next": "Slow"}], "Default": "Fine"},
			      "Slow": {"Type": "Wait", "Seconds": 1, "Next": "TooBig"},
			      "TooBig": {"Type": "Fail", "Error": "Item.TooBig", "Cause": "over 2"},
			      "Fine": {"Type": "Pass", "End": true}}},
			    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}], "End": true},
			  "Caught": {"Type": "Pass", "End": true}}}`),
			Input: raw(`{"items": [1, 2, 3]}`),
			// All iterations start at once; the third fails a second later, after the others finished.
			Want: &Want{Status: "SUCCEEDED"},
		},
		{
			Name: "pass/null-inputpath-and-outputpath",
			Definition: raw(`{"StartAt": "NoInput", "States": {
			  "NoInput": {"Type": "Pass", "InputPath": null, "ResultPath": "$.seen", "Next": "NoOutput"},
			  "NoOutput": {"Type": "Pass", "OutputPath": null, "End": true}}}`),
			Input: raw(`{"a": 1}`),
			Want:  &Want{Path: []string{"NoInput", "NoOutput"}, Status: "SUCCEEDED"},
		},
		{
			Name: "map/empty-items",
			Definition: raw(`{"StartAt": "Each", "States": {
			  "Each": {"Type": "Map", "ItemsPath": "$.none", "ItemProcessor": {"StartAt": "Never", "States": {"Never": {"Type": "Pass", "End": true}}}, "End": true}}}`),
			Input: raw(`{"none": []}`),
			Want:  &Want{Path: []string{"Each"}, Status: "SUCCEEDED"},
		},
		{
			Name: "retry/backoff-then-catch-order",
			Definition: raw(`{"StartAt": "Flaky", "States": {
			  "Flaky": {"Type": "Task", "Resource": "` + fn + `",
			    "Retry": [
			      {"ErrorEquals": ["Transient"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxDelaySeconds": 5, "MaxAttempts": 2, "JitterStrategy": "FULL"},
			      {"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}
			    ],
			    "Catch": [
			      {"ErrorEquals": ["Other"], "ResultPath": "$.other", "Next": "OtherCaught"},
			      {"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "AllCaught"}
			    ], "End": true},
			  "OtherCaught": {"Type": "Pass", "End": true},
			  "AllCaught": {"Type": "Pass", "End": true}}}`),
			Input: raw(`{"k": 1}`),
			Tasks: map[string][]Result{"Flaky": {fail("Transient", "1"), fail("Transient", "2"), fail("Transient", "3"), fail("Final", "gave up")}},
			// The first retrier that matches decides; once it is exhausted the state fails even
			// though a later retrier (States.ALL) would match.
			Want: &Want{Path: []string{"Flaky", "AllCaught"}, Status: "SUCCEEDED", Calls: map[string]int{"Flaky": 3}},
		},
		{
			Name: "retry/max-attempts-zero-and-taskfailed",
			Definition: raw(`{"StartAt": "Once", "States": {
			  "Once": {"Type": "Task", "Resource": "` + fn + `",
			    "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 0}, {"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 2}], "End": true}}}`),
			Input: raw(`{}`),
			Tasks: map[string][]Result{"Once": {fail("Boom", "no retry for me")}},
			Want:  &Want{Path: []string{"Once"}, Status: "FAILED", Error: "Boom", Cause: "no retry for me", Calls: map[string]int{"Once": 1}},
		},
		{
			Name: "retry/counters-reset-when-state-is-entered-again",
			Definition: raw(`{"StartAt": "Try", "States": {
			  "Try": {"Type": "Task", "Resource": "` + fn + `", "Retry": [{"ErrorEquals": ["Again"], "MaxAttempts": 1}], "ResultPath": "$.r", "Next": "Loop"},
			  "Loop": {"Type": "Choice", "Choices": [{"Variable": "$.r.more", "BooleanEquals": true, "Next": "Try"}], "Default": "End"},
			  "End": {"Type": "Succeed"}}}`),
			Input: raw(`{}`),
			Tasks: map[string][]Result{"Try": {fail("Again", "1"), out(`{"more": true}`), fail("Again", "2"), out(`{"more": false}`)}},
			Want:  &Want{Path: []string{"Try", "Loop", "Try", "Loop", "End"}, Status: "SUCCEEDED", Calls: map[string]int{"Try": 4}},
		},
		{
			Name: "catch/error-output-replaces-input-by-default",
			Definition: raw(`{"StartAt": "Breaks", "States": {
			  "Breaks": {"Type": "Task", "Resource": "` + fn + `", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Report"}], "End": true},
			  "Report": {"Type": "Pass", "Parameters": {"what.$": "$.Error", "why.$": "$.Cause"}, "End": true}}}`),
			Input: raw(`{"lost": true}`),
			Tasks: map[string][]Result{"Breaks": {fail("Custom.Error", "because")}},
			Want:  &Want{Path: []string{"Breaks", "Report"}, Status: "SUCCEEDED"},
		},
		{
			Name: "fail/errorpath-causepath",
			Definition: raw(`{"StartAt": "Prepare", "States": {
			  "Prepare": {"Type": "Pass", "Parameters": {"e": "Rotation.Failed", "c.$": "States.Format('user {} failed', $.user)"}, "ResultPath": "$.f", "Next": "Stop"},
			  "Stop": {"Type": "Fail", "ErrorPath": "$.f.e", "CausePath": "$.f.c"}}}`),
			Input: raw(`{"user": "bob"}`),
			Want:  &Want{Path: []string{"Prepare", "Stop"}, Status: "FAILED", Error: "Rotation.Failed", Cause: "user bob failed"},
		},
		{
			Name:       "fail/static-error-and-cause",
			Definition: raw(`{"StartAt": "Stop", "States": {"Stop": {"Type": "Fail", "Error": "Static.Error", "Cause": "static cause"}}}`),
			Input:      raw(`{}`),
			Want:       &Want{Path: []string{"Stop"}, Status: "FAILED", Error: "Static.Error", Cause: "static cause"},
		},
		{
			Name:       "task/unhandled-error-fails-execution",
			Definition: raw(`{"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": "` + fn + `", "End": true}}}`),
			Input:      raw(`{}`),
			Tasks:      map[string][]Result{fn: {fail("Lambda.Unknown", "unhandled")}},
			Want:       &Want{Path: []string{"Call"}, Status: "FAILED", Error: "Lambda.Unknown", Cause: "unhandled"},
		},
		{
			Name: "map/output-in-item-order-resultselector",
			Definition: raw(`{"StartAt": "Each", "States": {
			  "Each": {"Type": "Map", "ItemsPath": "$.delays", "MaxConcurrency": 3,
			    "ItemSelector": {"delay.$": "$$.Map.Item.Value", "at.$": "$$.Map.Item.Index"},
			    "ItemProcessor": {"StartAt": "Sleep", "States": {
			      "Sleep": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "Report"},
			      "Report": {"Type": "Pass", "Parameters": {"index.$": "$.at"}, "End": true}}},
			    "ResultSelector": {"all.$": "$[*].index", "first.$": "$[0]"}, "ResultPath": "$.out", "End": true}}}`),
			Input: raw(`{"delays": [3, 1, 2]}`),
			Want:  &Want{Status: "SUCCEEDED"},
		},
		{
			Name: "paths/task-array-result-and-outputpath-index",
			Definition: raw(`{"StartAt": "Call", "States": {
			  "Call": {"Type": "Task", "Resource": "` + fn + `", "OutputPath": "$[1]", "Next": "Use"},
			  "Use": {"Type": "Pass", "Parameters": {"got.$": "$.v", "has.$": "States.ArrayContains($.objs, $.probe)", "uniq.$": "States.ArrayUnique($.objs)"}, "End": true}}}`),
			Input: raw(`{}`),
			Tasks: map[string][]Result{"Call": {out(`[{"v": 0}, {"v": 1, "objs": [{"a": 1}, {"a": 1}, {"a": 2}], "probe": {"a": 2}}]`)}},
			Want:  &Want{Path: []string{"Call", "Use"}, Status: "SUCCEEDED"},
		},
		{
			Name: "paths/jsonpath-wildcards-slices-filters",
			Definition: raw(`{"StartAt": "Select", "States": {
			  "Select": {"Type": "Pass", "Parameters": {
			    "names.$": "$.items[*].name",
			    "tail.$": "$.items[1:]",
			    "big.$": "$.items[?(@.n > 1)].name",
			    "last.$": "$.items[-1:]",
			    "deep.$": "$..n"
			  }, "End": true}}}`),
			Input: raw(`{"items": [{"name": "a", "n": 1}, {"name": "b", "n": 2}, {"name": "c", "n": 3}]}`),
			Want:  &Want{Status: "SUCCEEDED"},
		},
		{
			Name: "task/runtime-error-in-parameters-is-not-caught",
			Definition: raw(`{"StartAt": "Call", "States": {
			  "Call": {"Type": "Task", "Resource": "` + fn + `", "Parameters": {"x.$": "$.absent"},
			    "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
			    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": true},
			  "Caught": {"Type": "Succeed"}}}`),
			Input:       raw(`{}`),
			Tasks:       map[string][]Result{"Call": {out(`{}`)}},
			IgnoreCause: true,
			Want:        &Want{Path: []string{"Call"}, Status: "FAILED", Error: "States.Runtime", Calls: map[string]int{"Call": 0}},
		},
		{
			Name: "context/execution-and-state-machine-fields",
			Definition: raw(`{"StartAt": "Ctx", "States": {
			  "Ctx": {"Type": "Pass", "Parameters": {"id.$": "$$.Execution.Id", "name.$": "$$.Execution.Name",
			    "role.$": "$$.Execution.RoleArn", "input.$": "$$.Execution.Input", "sm.$": "$$.StateMachine.Id"}, "End": true}}}`),
			Input: raw(`{"given": [1, "two"]}`),
			Want:  &Want{Status: "SUCCEEDED"},
		},
		{
			Name: "intrinsics/hash-algorithms-ranges-and-nesting",
			Definition: raw(`{"StartAt": "More", "States": {
			  "More": {"Type": "Pass", "Parameters": {
			    "sha1.$": "States.Hash($.s, 'SHA-1')",
			    "sha384.$": "States.Hash($.s, 'SHA-384')",
			    "sha512.$": "States.Hash($.s, 'SHA-512')",
			    "down.$": "States.ArrayRange(10, 1, -3)",
			    "nested.$": "States.ArrayGetItem(States.ArrayPartition(States.ArrayRange(1, 6, 1), 4), 1)",
			    "formatted.$": "States.Format('{}-{}', States.MathAdd(1, 2), States.ArrayLength($.list))",
			    "json.$": "States.JsonToString($.list)"
			  }, "End": true}}}`),
			Input: raw(`{"s": "keyrotor", "list": [1, "a", null, true]}`),
			Want:  &Want{Status: "SUCCEEDED"},
		},
		{
			Name: "choice/string-matches-escaped-wildcard",
			Definition: raw(`{"StartAt": "Match", "States": {
			  "Match": {"Type": "Choice", "Choices": [
			    {"Variable": "$.file", "StringMatches": "log-\\*.txt", "Next": "Literal"},
			    {"Variable": "$.file", "StringMatches": "log-*.txt", "Next": "Wildcard"}
			  ], "Default": "Neither"},
			  "Literal": {"Type": "Pass", "End": true},
			  "Wildcard": {"Type": "Pass", "End": true},
			  "Neither": {"Type": "Pass", "End": true}}}`),
			Input: raw(`{"file": "log-2026.txt"}`),
			Want:  &Want{Path: []string{"Match", "Wildcard"}, Status: "SUCCEEDED"},
		},
		{
			Name:        "paths/missing-input-path-is-a-runtime-error",
			Definition:  raw(`{"StartAt": "Shape", "States": {"Shape": {"Type": "Pass", "Parameters": {"x.$": "$.nothing"}, "End": true}}}`),
			Input:       raw(`{}`),
			IgnoreCause: true,
			Want:        &Want{Path: []string{"Shape"}, Status: "FAILED", Error: "States.Runtime"},
		},
	}
}
