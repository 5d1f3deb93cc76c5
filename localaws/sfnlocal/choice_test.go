package sfnlocal

import (
	"encoding/json"
	"strings"
	"testing"
)

// choiceDef routes to Yes when rule matches, else to No.
func choiceDef(rule string) string {
	return `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[` + rule[:len(rule)-1] + `,"Next":"Yes"}],"Default":"No"},
	"Yes":{"Type":"Pass","Result":"yes","End":true},"No":{"Type":"Pass","Result":"no","End":true}}}`
}

func TestChoiceOperators(t *testing.T) {
	input := `{"s":"banana","n":42,"f":1.5,"b":true,"t":"2026-03-01T12:00:00Z","t2":"2026-03-01T13:00:00+01:00","z":null,
	  "other":{"s":"banana","s2":"cherry","n":42,"n2":7,"b":true,"t":"2026-03-02T00:00:00Z"},"arr":[1,2],"star":"a*b","bs":"a\\b"}`
	cases := []struct {
		name string
		rule string
		want bool
	}{
		{"StringEquals match", `{"Variable":"$.s","StringEquals":"banana"}`, true},
		{"StringEquals other", `{"Variable":"$.s","StringEquals":"apple"}`, false},
		{"StringEquals on number is false", `{"Variable":"$.n","StringEquals":"42"}`, false},
		{"StringLessThan", `{"Variable":"$.s","StringLessThan":"cherry"}`, true},
		{"StringGreaterThan", `{"Variable":"$.s","StringGreaterThan":"cherry"}`, false},
		{"StringLessThanEquals equal", `{"Variable":"$.s","StringLessThanEquals":"banana"}`, true},
		{"StringGreaterThanEquals", `{"Variable":"$.s","StringGreaterThanEquals":"banana"}`, true},
		{"StringEqualsPath", `{"Variable":"$.s","StringEqualsPath":"$.other.s"}`, true},
		{"StringLessThanPath", `{"Variable":"$.s","StringLessThanPath":"$.other.s2"}`, true},
		{"StringGreaterThanPath", `{"Variable":"$.s","StringGreaterThanPath":"$.other.s2"}`, false},
		{"StringLessThanEqualsPath", `{"Variable":"$.s","StringLessThanEqualsPath":"$.other.s"}`, true},
		{"StringGreaterThanEqualsPath", `{"Variable":"$.other.s2","StringGreaterThanEqualsPath":"$.s"}`, true},
		{"StringMatches prefix", `{"Variable":"$.s","StringMatches":"ban*"}`, true},
		{"StringMatches middle", `{"Variable":"$.s","StringMatches":"b*n*a"}`, true},
		{"StringMatches no match", `{"Variable":"$.s","StringMatches":"*x*"}`, false},
		{"StringMatches escaped star is literal", `{"Variable":"$.star","StringMatches":"a\\*b"}`, true},
		{"StringMatches escaped star does not wildcard", `{"Variable":"$.s","StringMatches":"b\\*"}`, false},
		{"StringMatches escaped backslash", `{"Variable":"$.bs","StringMatches":"a\\\\b"}`, true},
		{"NumericEquals", `{"Variable":"$.n","NumericEquals":42}`, true},
		{"NumericEquals float", `{"Variable":"$.f","NumericEquals":1.5}`, true},
		{"NumericEquals on string is false", `{"Variable":"$.s","NumericEquals":42}`, false},
		{"NumericLessThan", `{"Variable":"$.n","NumericLessThan":43}`, true},
		{"NumericGreaterThan", `{"Variable":"$.n","NumericGreaterThan":42}`, false},
		{"NumericLessThanEquals", `{"Variable":"$.n","NumericLessThanEquals":42}`, true},
		{"NumericGreaterThanEquals", `{"Variable":"$.n","NumericGreaterThanEquals":41.9}`, true},
		{"NumericEqualsPath", `{"Variable":"$.n","NumericEqualsPath":"$.other.n"}`, true},
		{"NumericLessThanPath", `{"Variable":"$.other.n2","NumericLessThanPath":"$.n"}`, true},
		{"NumericGreaterThanPath", `{"Variable":"$.n","NumericGreaterThanPath":"$.other.n2"}`, true},
		{"NumericLessThanEqualsPath", `{"Variable":"$.n","NumericLessThanEqualsPath":"$.other.n2"}`, false},
		{"NumericGreaterThanEqualsPath", `{"Variable":"$.n","NumericGreaterThanEqualsPath":"$.other.n"}`, true},
		{"BooleanEquals", `{"Variable":"$.b","BooleanEquals":true}`, true},
		{"BooleanEquals false", `{"Variable":"$.b","BooleanEquals":false}`, false},
		{"BooleanEqualsPath", `{"Variable":"$.b","BooleanEqualsPath":"$.other.b"}`, true},
		{"TimestampEquals across offsets", `{"Variable":"$.t2","TimestampEquals":"2026-03-01T12:00:00Z"}`, true},
		{"TimestampLessThan", `{"Variable":"$.t","TimestampLessThan":"2026-03-01T12:00:01Z"}`, true},
		{"TimestampGreaterThan", `{"Variable":"$.t","TimestampGreaterThan":"2026-03-01T12:00:01Z"}`, false},
		{"TimestampLessThanEquals", `{"Variable":"$.t","TimestampLessThanEquals":"2026-03-01T12:00:00Z"}`, true},
		{"TimestampGreaterThanEquals", `{"Variable":"$.t","TimestampGreaterThanEquals":"2026-03-01T12:00:00Z"}`, true},
		{"TimestampEqualsPath", `{"Variable":"$.t","TimestampEqualsPath":"$.t2"}`, true},
		{"TimestampLessThanPath", `{"Variable":"$.t","TimestampLessThanPath":"$.other.t"}`, true},
		{"TimestampGreaterThanPath", `{"Variable":"$.t","TimestampGreaterThanPath":"$.other.t"}`, false},
		{"TimestampLessThanEqualsPath", `{"Variable":"$.t","TimestampLessThanEqualsPath":"$.t2"}`, true},
		{"TimestampGreaterThanEqualsPath", `{"Variable":"$.other.t","TimestampGreaterThanEqualsPath":"$.t"}`, true},
		{"Timestamp comparison of a non-timestamp is false", `{"Variable":"$.s","TimestampLessThan":"2030-01-01T00:00:00Z"}`, false},
		{"IsPresent true", `{"Variable":"$.s","IsPresent":true}`, true},
		{"IsPresent on missing", `{"Variable":"$.missing","IsPresent":true}`, false},
		{"IsPresent false on missing", `{"Variable":"$.missing","IsPresent":false}`, true},
		{"IsNull", `{"Variable":"$.z","IsNull":true}`, true},
		{"IsNull false on value", `{"Variable":"$.s","IsNull":false}`, true},
		{"IsString", `{"Variable":"$.s","IsString":true}`, true},
		{"IsString on number", `{"Variable":"$.n","IsString":true}`, false},
		{"IsNumeric", `{"Variable":"$.f","IsNumeric":true}`, true},
		{"IsNumeric false", `{"Variable":"$.s","IsNumeric":false}`, true},
		{"IsBoolean", `{"Variable":"$.b","IsBoolean":true}`, true},
		{"IsTimestamp", `{"Variable":"$.t","IsTimestamp":true}`, true},
		{"IsTimestamp on plain string", `{"Variable":"$.s","IsTimestamp":true}`, false},
		{"And all true", `{"And":[{"Variable":"$.n","NumericGreaterThan":1},{"Variable":"$.s","StringEquals":"banana"}]}`, true},
		{"And one false", `{"And":[{"Variable":"$.n","NumericGreaterThan":1},{"Variable":"$.s","StringEquals":"x"}]}`, false},
		{"Or one true", `{"Or":[{"Variable":"$.n","NumericGreaterThan":100},{"Variable":"$.s","StringEquals":"banana"}]}`, true},
		{"Or none true", `{"Or":[{"Variable":"$.n","NumericGreaterThan":100},{"Variable":"$.s","StringEquals":"x"}]}`, false},
		{"Not", `{"Not":{"Variable":"$.s","StringEquals":"x"}}`, true},
		{"nested And/Or/Not", `{"And":[{"Or":[{"Variable":"$.b","BooleanEquals":false},{"Not":{"Variable":"$.z","IsNull":false}}]},{"Variable":"$.missing","IsPresent":false}]}`, true},
		{"Variable from context object", `{"Variable":"$$.Execution.Name","StringEquals":"exec-1"}`, true},
		{"Variable with array index", `{"Variable":"$.arr[1]","NumericEquals":2}`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex, _ := runDef(t, choiceDef(tc.rule), input, nil)
			wantStatus(t, ex, StatusSucceeded)
			want := `"no"`
			if tc.want {
				want = `"yes"`
			}
			jsonEq(t, ex.Output, want)
		})
	}
}

func TestChoiceFailures(t *testing.T) {
	cases := []struct {
		name, def, input, err, cause string
	}{
		{"no rule matches and no Default", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.x","NumericEquals":1,"Next":"S"}]},"S":{"Type":"Succeed"}}}`,
			`{"x":2}`, ErrNoChoiceMatched, ""},
		{"Variable path missing is a runtime error", choiceDef(`{"Variable":"$.missing","StringEquals":"a"}`), `{}`, ErrRuntime, "$.missing"},
		{"operand path missing is a runtime error", choiceDef(`{"Variable":"$.a","StringEqualsPath":"$.missing"}`), `{"a":"x"}`, ErrRuntime, "$.missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex, _ := runDef(t, tc.def, tc.input, nil)
			wantFailed(t, ex, tc.err, tc.cause)
		})
	}
}

func TestChoiceFirstMatchWinsAndOutputPathApplies(t *testing.T) {
	def := `{"StartAt":"C","States":{"C":{"Type":"Choice","InputPath":"$.in","OutputPath":"$.v","Choices":[
	  {"Variable":"$.v","NumericGreaterThan":0,"Next":"A"},{"Variable":"$.v","NumericGreaterThan":1,"Next":"B"}],"Default":"B"},
	  "A":{"Type":"Pass","Parameters":{"took":"A","v.$":"$"},"End":true},"B":{"Type":"Pass","Parameters":{"took":"B"},"End":true}}}`
	ex, _ := runDef(t, def, `{"in":{"v":5}}`, nil)
	wantStatus(t, ex, StatusSucceeded)
	jsonEq(t, ex.Output, `{"took":"A","v":5}`)
	var types []string
	for _, e := range ex.History {
		types = append(types, e.Type)
	}
	want := []string{"ExecutionStarted", "ChoiceStateEntered", "ChoiceStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"}
	if b1, b2 := mustJSON(types), mustJSON(want); b1 != b2 {
		t.Errorf("events %s, want %s", b1, b2)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true}, {"", "a", false}, {"abc", "abc", true}, {"abc", "abcd", false},
		{"*", "", true}, {"*", "anything", true}, {"a*", "a", true}, {"*a", "ba", true}, {"*a", "ab", false},
		{"a*b", "ab", true}, {"a*b", "axxb", true}, {"a*b", "a", false}, {"ab*ba", "aba", false}, {"ab*ba", "abba", true},
		{"*.log", "keyrotor.log", true}, {"log-*-2026*", "log-eu-west-1-2026-03", true},
		{"a*a*a*a*a*a*a*a*b", strings.Repeat("a", 200), false},
		{`a\*b`, "a*b", true}, {`a\*b`, "axb", false}, {`a\\*`, `a\bc`, true},
	}
	for _, tc := range cases {
		if got := globMatch(compileGlob(tc.pattern), tc.s); got != tc.want {
			t.Errorf("StringMatches %q on %q = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}
