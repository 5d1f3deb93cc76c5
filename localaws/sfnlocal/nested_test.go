package sfnlocal

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestNestedMapInParallelInMap(t *testing.T) {
	def := `{"StartAt":"Outer","States":{"Outer":{"Type":"Map","ItemsPath":"$.groups","ItemSelector":{"g.$":"$$.Map.Item.Value"},
	  "ItemProcessor":{"StartAt":"Par","States":{"Par":{"Type":"Parallel","Branches":[
	    {"StartAt":"Inner","States":{"Inner":{"Type":"Map","ItemsPath":"$.g.users","ItemProcessor":{"StartAt":"Rotate","States":{"Rotate":{"Type":"Task","Resource":"` + testLambda + `","End":true}}},"End":true}}},
	    {"StartAt":"Name","States":{"Name":{"Type":"Pass","InputPath":"$.g.name","End":true}}}],
	  "ResultSelector":{"users.$":"$[0]","name.$":"$[1]"},"End":true}}},"End":true}}}`
	tasks := TaskInvokerFunc(func(_ context.Context, req TaskRequest) (rawT, error) {
		return rawT(strings.ToUpper(string(req.Input))), nil
	})
	ex, _ := runDef(t, def, `{"groups":[{"name":"signers","users":["a","b"]},{"name":"empty","users":[]}]}`, tasks)
	wantStatus(t, ex, StatusSucceeded)
	jsonEq(t, ex.Output, `[{"users":["A","B"],"name":"signers"},{"users":[],"name":"empty"}]`)
	want := `["Outer","Par","Inner","Rotate","Rotate","Name","Par","Inner","Name"]`
	if got := mustJSON(ex.StatePath()); got != want {
		t.Errorf("state path %s, want %s", got, want)
	}
}

func TestExecutionTimeoutDuringATask(t *testing.T) {
	clock := NewVirtualClock(testStart)
	tasks := TaskInvokerFunc(func(ctx context.Context, req TaskRequest) (rawT, error) {
		return nil, clock.Sleep(ctx, time.Hour)
	})
	def := `{"StartAt":"T","TimeoutSeconds":30,"States":{"T":{"Type":"Task","Resource":"` + testLambda + `","Retry":[{"ErrorEquals":["States.ALL"]}],"End":true}}}`
	ex, _ := runDef(t, def, `{}`, tasks, withClock(clock))
	wantStatus(t, ex, StatusTimedOut)
	if got := ex.StopDate.Sub(ex.StartDate); got != 30*time.Second {
		t.Errorf("timed out after %v, want 30s", got)
	}
}

func TestAbortDuringMapAbortsIterations(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{}, 3)
	tasks := TaskInvokerFunc(func(tctx context.Context, req TaskRequest) (rawT, error) {
		started <- struct{}{}
		if len(started) == 3 {
			cancel()
		}
		<-tctx.Done()
		return nil, tctx.Err()
	})
	def := `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + testLambda + `","End":true}}},"End":true}}}`
	ex := Run(ctx, mustParse(t, def), rawT(`[1,2,3]`), Options{Tasks: tasks, Clock: NewVirtualClock(testStart)})
	wantStatus(t, ex, StatusAborted)
	count := map[string]int{}
	for _, e := range ex.History {
		count[e.Type]++
	}
	if count["MapIterationAborted"] != 3 || count["TaskStateAborted"] != 3 || count["MapStateAborted"] != 1 || count["ExecutionAborted"] != 1 {
		t.Errorf("event counts %v", count)
	}
	if last := ex.History[len(ex.History)-1]; last.Type != "ExecutionAborted" {
		t.Errorf("last event %s", last.Type)
	}
}

func TestPathCompileErrors(t *testing.T) {
	for _, p := range []string{"", "a.b", "$.", "$..", "$[", "$[abc]", "$['x'", "$[1:2:0]", "$[?(@.a == 1]", "$[?(x > 1)]", "$.a[?(@.b[*] > 1)]"} {
		if _, err := compilePath(p); err == nil {
			t.Errorf("compilePath(%q) accepted a bad path", p)
		}
	}
	for _, p := range []string{"$", "$$", "$.a", "$['a b']", "$[0]", "$[-1]", "$[*]", "$.*", "$..a", "$..*", "$[1:]", "$[:2]", "$[::-1]", "$[0,2]", "$['a','b']", "$[?(@.a)]", "$[?(@.a >= 'x' || @.b != null)]"} {
		if _, err := compilePath(p); err != nil {
			t.Errorf("compilePath(%q): %v", p, err)
		}
	}
}

func TestReferencePathsRejectIndefinitePaths(t *testing.T) {
	for _, p := range []string{"$.a[*]", "$..a", "$[0:1]", "$$.Execution"} {
		if _, err := compileReferencePath(p); err == nil {
			t.Errorf("compileReferencePath(%q) accepted it", p)
		}
	}
}

func TestIndefinitePathResults(t *testing.T) {
	input := `{"a":[{"v":1},{"v":2},{"v":3},{"w":4}],"m":{"x":{"v":5}}}`
	cases := map[string]string{
		"$.a[*].v":           `[1,2,3]`,
		"$.a[1:3].v":         `[2,3]`,
		"$.a[-1:]":           `[{"w":4}]`,
		"$.a[::-1]":          `[{"w":4},{"v":3},{"v":2},{"v":1}]`,
		"$.a[0,2].v":         `[1,3]`,
		"$..v":               `[1,2,3,5]`,
		"$.a[?(@.v >= 2)].v": `[2,3]`,
		"$.a[?(@.w)]":        `[{"w":4}]`,
		"$.m.*.v":            `[5]`,
		"$.nothing[*]":       `[]`,
	}
	for path, want := range cases {
		t.Run(path, func(t *testing.T) {
			ex, _ := runDef(t, pass(fmt.Sprintf(`"Parameters":{"r.$":%q}`, path)), input, nil)
			wantStatus(t, ex, StatusSucceeded)
			jsonEq(t, ex.Output, `{"r":`+want+`}`)
		})
	}
}

// The context object reaches states nested in Parallel branches and Map iterations, also
// when no top-level state refers to $$ itself.
func TestContextObjectInNestedStates(t *testing.T) {
	cases := []struct{ name, def, want string }{
		{"parallel branch", `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[{"StartAt":"B","States":{"B":{"Type":"Pass","End":true,
			"Parameters":{"id.$":"$$.Execution.Id","machine.$":"$$.StateMachine.Name"}}}}]}}}`,
			`[{"id":"` + testExecArn + `","machine":"rotate"}]`},
		{"map iteration", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true,
			"Parameters":{"name.$":"$$.Execution.Name","state.$":"$$.State.Name"}}}}}}}`,
			`[{"name":"exec-1","state":"I"}]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex, _ := runDef(t, tc.def, `[1]`, nil)
			wantStatus(t, ex, StatusSucceeded)
			jsonEq(t, ex.Output, tc.want)
		})
	}
}
