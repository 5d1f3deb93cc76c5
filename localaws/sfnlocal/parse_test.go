package sfnlocal

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRejectsInvalidDefinitionsNamingStateAndField(t *testing.T) {
	cases := []struct {
		name string
		def  string
		want []string // substrings of the error
	}{
		{"not JSON", `{`, []string{"not valid JSON"}},
		{"missing StartAt", `{"States":{"A":{"Type":"Succeed"}}}`, []string{"StartAt", "missing"}},
		{"missing States", `{"StartAt":"A"}`, []string{"States", "missing"}},
		{"StartAt names no state", `{"StartAt":"B","States":{"A":{"Type":"Succeed"}}}`, []string{"StartAt", `"B" names no state`}},
		{"unknown type", `{"StartAt":"A","States":{"A":{"Type":"Lambda","End":true}}}`, []string{`state "A"`, "Type", `"Lambda" is not a state type`}},
		{"missing type", `{"StartAt":"A","States":{"A":{"End":true}}}`, []string{`state "A"`, "Type", "missing"}},
		{"Next to unknown state", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nope"}}}`, []string{`state "A"`, "field Next", `"Nope" names no state`}},
		{"neither Next nor End", `{"StartAt":"A","States":{"A":{"Type":"Pass"}}}`, []string{`state "A"`, "Next", "needs Next or End"}},
		{"both Next and End", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B","End":true},"B":{"Type":"Succeed"}}}`, []string{`state "A"`, "both Next and End"}},
		{"unreachable state", `{"StartAt":"A","States":{"A":{"Type":"Succeed"},"B":{"Type":"Succeed"}}}`, []string{`state "B"`, "not reachable"}},
		{"no reachable end", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Pass","Next":"A"}}}`, []string{"no path from this state reaches an end"}},
		{"unknown field", `{"StartAt":"A","States":{"A":{"Type":"Pass","Foo":1,"End":true}}}`, []string{`state "A"`, "field Foo", "not a field of a Pass state"}},
		{"unknown top-level field", `{"StartAt":"A","Foo":1,"States":{"A":{"Type":"Succeed"}}}`, []string{"field Foo"}},
		{"JSONata", `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Succeed"}}}`, []string{"QueryLanguage", "JSONPath definitions only"}},
		{"Task without Resource", `{"StartAt":"A","States":{"A":{"Type":"Task","End":true}}}`, []string{`state "A"`, "Resource", "missing"}},
		{"Retry IntervalSeconds zero", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["X"],"IntervalSeconds":0}]}}}`, []string{`state "A"`, "Retry[0].IntervalSeconds", "positive integer"}},
		{"Retry MaxAttempts negative", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["X"],"MaxAttempts":-1}]}}}`, []string{"Retry[0].MaxAttempts", "non-negative"}},
		{"Retry BackoffRate below 1", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["X"],"BackoffRate":0.5}]}}}`, []string{"Retry[0].BackoffRate", "at least 1.0"}},
		{"Retry bad JitterStrategy", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["X"],"JitterStrategy":"HALF"}]}}}`, []string{"Retry[0].JitterStrategy", "FULL or NONE"}},
		{"Retry MaxDelaySeconds zero", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["X"],"MaxDelaySeconds":0}]}}}`, []string{"Retry[0].MaxDelaySeconds"}},
		{"Retry unknown field", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["X"],"Backoff":2}]}}}`, []string{"field Backoff", "Retry[0]"}},
		{"Retry empty ErrorEquals", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":[]}]}}}`, []string{"Retry[0].ErrorEquals", "non-empty"}},
		{"States.ALL not last", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["States.ALL"]},{"ErrorEquals":["X"]}]}}}`, []string{"Retry[0].ErrorEquals", "last"}},
		{"States.ALL with others", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Retry":[{"ErrorEquals":["States.ALL","X"]}]}}}`, []string{"alone"}},
		{"Retry not an array", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Retry":{"ErrorEquals":["X"]}}}}`, []string{"Retry", "array of retriers"}},
		{"Catch entry not an object", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Catch":["X"]}}}`, []string{"Catch[0]", "must be an object"}},
		{"Catch unknown field", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Catch":[{"ErrorEquals":["X"],"Next":"A","Then":"B"}]}}}`, []string{"field Then", "Catch[0]"}},
		{"Catch Next unknown", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","End":true,"Catch":[{"ErrorEquals":["X"],"Next":"Z"}]}}}`, []string{"Catch[0].Next", `"Z" names no state`}},
		{"Choice without Choices", `{"StartAt":"A","States":{"A":{"Type":"Choice","Default":"B"},"B":{"Type":"Succeed"}}}`, []string{`state "A"`, "Choices"}},
		{"Choice rule two operators", `{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Variable":"$.x","StringEquals":"a","NumericEquals":1,"Next":"B"}]},"B":{"Type":"Succeed"}}}`, []string{"Choices[0]", "exactly one operator"}},
		{"Choice rule without Next", `{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Variable":"$.x","StringEquals":"a"}],"Default":"B"},"B":{"Type":"Succeed"}}}`, []string{"Choices[0].Next"}},
		{"Choice operand type", `{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Variable":"$.x","NumericEquals":"1","Next":"B"}]},"B":{"Type":"Succeed"}}}`, []string{"Choices[0].NumericEquals", "must be a number"}},
		{"Choice bad timestamp", `{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Variable":"$.x","TimestampEquals":"yesterday","Next":"B"}]},"B":{"Type":"Succeed"}}}`, []string{"TimestampEquals", "RFC 3339"}},
		{"Wait two fields", `{"StartAt":"A","States":{"A":{"Type":"Wait","Seconds":1,"SecondsPath":"$.s","End":true}}}`, []string{`state "A"`, "exactly one of Seconds"}},
		{"Fail Error and ErrorPath", `{"StartAt":"A","States":{"A":{"Type":"Fail","Error":"X","ErrorPath":"$.e"}}}`, []string{`state "A"`, "Error", "ErrorPath"}},
		{"bad InputPath", `{"StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"x","End":true}}}`, []string{"InputPath", "must start with $"}},
		{"ResultPath into context", `{"StartAt":"A","States":{"A":{"Type":"Pass","ResultPath":"$$.x","End":true}}}`, []string{"ResultPath", "context object"}},
		{"Parameters bad intrinsic", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"States.Nope(1)"},"End":true}}}`, []string{"Parameters", "unknown function"}},
		{"Parameters intrinsic arity", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"States.ArrayLength()"},"End":true}}}`, []string{"ArrayLength takes 1 arguments, got 0"}},
		{"Parameters intrinsic arity with an optional argument", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"States.MathRandom(1, 2, 3, 4)"},"End":true}}}`, []string{"MathRandom takes 2 to 3 arguments, got 4"}},
		{"Parameters intrinsic arity of a variadic function", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"States.Format()"},"End":true}}}`, []string{"Format takes at least 1 arguments, got 0"}},
		{"Parameters neither path nor intrinsic", `{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"x.$":"hello"},"End":true}}}`, []string{"neither a path"}},
		{"Parallel branch Next unknown", `{"StartAt":"A","States":{"A":{"Type":"Parallel","End":true,"Branches":[{"StartAt":"B","States":{"B":{"Type":"Pass","Next":"Q"}}}]}}}`, []string{"Branches[0]", `state "B"`, `"Q" names no state`}},
		{"Map without processor", `{"StartAt":"A","States":{"A":{"Type":"Map","End":true}}}`, []string{`state "A"`, "ItemProcessor", "missing"}},
		{"Map ItemBatcher", `{"StartAt":"A","States":{"A":{"Type":"Map","End":true,"ItemBatcher":{"MaxItemsPerBatch":2},"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED"},"StartAt":"B","States":{"B":{"Type":"Succeed"}}}}}}`, []string{"ItemBatcher", "not supported"}},
		{"Map mode unknown", `{"StartAt":"A","States":{"A":{"Type":"Map","End":true,"ItemProcessor":{"ProcessorConfig":{"Mode":"PARALLEL"},"StartAt":"B","States":{"B":{"Type":"Succeed"}}}}}}`, []string{"Mode", "INLINE, DISTRIBUTED"}},
		{"Map EXPRESS children", `{"StartAt":"A","States":{"A":{"Type":"Map","End":true,"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"},"StartAt":"B","States":{"B":{"Type":"Succeed"}}}}}}`, []string{"EXPRESS", "only STANDARD"}},
		{"Map Label with a blank", `{"StartAt":"A","States":{"A":{"Type":"Map","End":true,"Label":"a b","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED"},"StartAt":"B","States":{"B":{"Type":"Succeed"}}}}}}`, []string{"Label", "invalid character"}},
		{"Map tolerated percentage above 100", `{"StartAt":"A","States":{"A":{"Type":"Map","End":true,"ToleratedFailurePercentage":120,"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED"},"StartAt":"B","States":{"B":{"Type":"Succeed"}}}}}}`, []string{"ToleratedFailurePercentage", "0 to 100"}},
		{"Heartbeat not below timeout", `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","TimeoutSeconds":5,"HeartbeatSeconds":5,"End":true}}}`, []string{"HeartbeatSeconds", "smaller than TimeoutSeconds"}},
		{"TimeoutSeconds zero", `{"StartAt":"A","TimeoutSeconds":0,"States":{"A":{"Type":"Succeed"}}}`, []string{"TimeoutSeconds", "positive integer"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.def))
			if err == nil {
				t.Fatal("Parse accepted an invalid definition")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *ParseError", err)
			}
		})
	}
}

func TestParseAcceptsEveryStateType(t *testing.T) {
	def := `{"Comment":"all types","StartAt":"Pass","TimeoutSeconds":60,"States":{
	  "Pass":{"Type":"Pass","Result":{"a":1},"ResultPath":"$.r","Next":"Task"},
	  "Task":{"Type":"Task","Resource":"` + testLambda + `","TimeoutSecondsPath":"$.t","HeartbeatSeconds":3,
	     "Retry":[{"ErrorEquals":["KeyNotYetValid"],"IntervalSeconds":1,"MaxAttempts":5,"BackoffRate":1.5,"MaxDelaySeconds":4,"JitterStrategy":"FULL"},{"ErrorEquals":["States.ALL"]}],
	     "Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"Fail"}],"Next":"Choice"},
	  "Choice":{"Type":"Choice","Choices":[{"And":[{"Variable":"$.a","IsPresent":true},{"Not":{"Variable":"$.a","NumericEquals":1}}],"Next":"Wait"}],"Default":"Par"},
	  "Wait":{"Type":"Wait","TimestampPath":"$.when","Next":"Par"},
	  "Par":{"Type":"Parallel","Branches":[{"StartAt":"X","States":{"X":{"Type":"Succeed"}}}],"Next":"Map"},
	  "Map":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":2,"Iterator":{"StartAt":"Y","States":{"Y":{"Type":"Pass","End":true}}},"Next":"Done"},
	  "Done":{"Type":"Succeed"},
	  "Fail":{"Type":"Fail","ErrorPath":"$.error.Error","CausePath":"States.Format('failed: {}', $.error.Cause)"}}}`
	sm, err := Parse([]byte(def))
	if err != nil {
		t.Fatal(err)
	}
	if sm.StartAt != "Pass" || sm.TimeoutSeconds != 60 || sm.Comment != "all types" {
		t.Errorf("parsed header = %+v", sm)
	}
	if got := len(sm.StateNames()); got != 8 {
		t.Errorf("StateNames has %d names, want 8", got)
	}
}

func TestContextUseDetection(t *testing.T) {
	cases := []struct {
		def          string
		uses, beyond bool
	}{
		{`{"Type":"Pass"}`, false, false},
		{`{"Parameters":{"id.$":"$$.Execution.Id","sm.$":"$$.StateMachine.Name"}}`, true, false},
		{`{"Parameters":{"id.$":"$$.Execution.Id","n.$":"$$.State.RetryCount"}}`, true, true},
		{`{"Parameters":{"c.$":"$$"}}`, true, true},
		{`{"ItemSelector":{"v.$":"$$.Map.Item.Value"}}`, true, true},
		{`{"Parameters":{"t.$":"$$.Task.Token"}}`, true, true},
	}
	for _, tc := range cases {
		uses, beyond := contextUse(tc.def)
		if uses != tc.uses || beyond != tc.beyond {
			t.Errorf("contextUse(%s) = %v, %v; want %v, %v", tc.def, uses, beyond, tc.uses, tc.beyond)
		}
	}
}
