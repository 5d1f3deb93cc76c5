package conformance

import (
	"encoding/json"
	"testing"
)

// compare must flag what matters and only that.
func TestCompareFlagsDifferencesThatMatter(t *testing.T) {
	def := raw(`{"StartAt": "A", "States": {"A": {"Type": "Parallel", "Branches": [], "Next": "B"}, "B": {"Type": "Succeed"}}}`)
	base := outcome{Status: "SUCCEEDED", Output: raw(`{"x": 1, "y": [1, 2]}`), Path: []string{"A", "L", "R", "B"},
		Calls: []call{{State: "L", Input: raw(`{"a":1,"b":2}`)}, {State: "R", Input: raw(`{}`)}}}
	tests := []struct {
		name        string
		change      func(o *outcome)
		ignoreCause bool
		differs     bool
	}{
		{"identical", func(o *outcome) {}, false, false},
		{"output with other key order and spacing", func(o *outcome) { o.Output = raw(`{"y":[1,2],"x":1.0}`) }, false, false},
		{"nested states in another order", func(o *outcome) { o.Path = []string{"A", "R", "L", "B"} }, false, false},
		{"calls in another order, input keys reordered", func(o *outcome) {
			o.Calls = []call{{State: "R", Input: raw(`{}`)}, {State: "L", Input: raw(`{"b":2,"a":1}`)}}
		}, false, false},
		{"top-level states in another order", func(o *outcome) { o.Path = []string{"B", "L", "R", "A"} }, false, true},
		{"a nested state missing", func(o *outcome) { o.Path = []string{"A", "L", "B"} }, false, true},
		{"other output", func(o *outcome) { o.Output = raw(`{"x": 2, "y": [1, 2]}`) }, false, true},
		{"other status", func(o *outcome) { o.Status = "FAILED" }, false, true},
		{"one call more", func(o *outcome) { o.Calls = append(o.Calls, call{State: "R", Input: raw(`{}`)}) }, false, true},
		{"other call input", func(o *outcome) {
			o.Calls = []call{{State: "L", Input: raw(`{"a":1}`)}, {State: "R", Input: raw(`{}`)}}
		}, false, true},
		{"other cause", func(o *outcome) { o.Cause = "engine wording" }, false, true},
		{"other cause, ignored", func(o *outcome) { o.Cause = "engine wording" }, true, false},
		{"refused definition", func(o *outcome) { o.Problem = "invalid" }, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			other := base
			other.Calls = append([]call(nil), base.Calls...)
			tc.change(&other)
			diffs := compare(Scenario{Definition: def, IgnoreCause: tc.ignoreCause}, base, other)
			if got := len(diffs) > 0; got != tc.differs {
				t.Fatalf("differences %q; want differing=%v", diffs, tc.differs)
			}
		})
	}
}

// The stubs answer by state name before resource, count calls per key and repeat the last result.
func TestStubsAnswerInSequence(t *testing.T) {
	s := newStubs(map[string][]Result{
		"Named": {out(`1`), fail("E", "c")},
		fn:      {merge(map[string]any{"added": true})},
	})
	ask := func(state string, input string) (string, error) {
		out, err := s.InvokeTask(t.Context(), taskRequest(state, input))
		return string(out), err
	}
	if got, err := ask("Named", `{}`); err != nil || got != `1` {
		t.Fatalf("first call: %s %v", got, err)
	}
	for range 2 {
		if _, err := ask("Named", `{}`); err == nil || err.Error() != "E: c" {
			t.Fatalf("later calls: %v, want E: c", err)
		}
	}
	got, err := ask("Other", `{"rotation": {"userName": "u"}, "action": "x"}`)
	var doc map[string]any
	if err != nil || json.Unmarshal([]byte(got), &doc) != nil || doc["userName"] != "u" || doc["added"] != true || doc["action"] != nil {
		t.Fatalf("merge by resource: %s %v", got, err)
	}
	if _, err := ask("Unknown", `{}`); err != nil {
		t.Fatalf("resource stub should answer any state of that resource: %v", err)
	}
}
