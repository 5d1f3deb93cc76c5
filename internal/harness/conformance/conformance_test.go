package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/harness/testutil"
)

// Scenario is one execution that both engines run with the same task stubs.
type Scenario struct {
	Name       string
	Definition json.RawMessage
	Input      json.RawMessage
	Tasks      map[string][]Result // by state name or by resource
	// IgnoreCause: the Cause is an engine's own wording (States.Runtime and the like), which
	// AWS does not specify; the Error name is still compared.
	IgnoreCause bool
	// Want, if set, is what the definition must do; both engines are held to it.
	Want *Want
}

// Want is the expected behaviour of a scenario's definition.
type Want struct {
	Path   []string
	Status string
	Error  string
	Cause  string         // compared when set
	Calls  map[string]int // task calls per state, for the states listed
}

// Set by TestConformance, printed by TestMain so that `go test` shows it without -v.
var scenariosRun, differences int

func TestMain(m *testing.M) {
	code := m.Run()
	if scenariosRun > 0 {
		fmt.Fprintf(os.Stdout, "conformance: %d scenarios, %d differences\n", scenariosRun, differences)
	}
	if recordedRun > 0 {
		fmt.Fprintf(os.Stdout, "aws recorded: %d cases, %d differences\n", recordedRun, recordedDifferences)
	}
	os.Exit(code)
}

func allScenarios(t *testing.T) []Scenario {
	all := slices.Concat(rotationScenarios(t), fleetScenarios(t), aslScenarios())
	seen := map[string]bool{}
	for _, sc := range all {
		if seen[sc.Name] {
			t.Fatalf("two scenarios are named %s", sc.Name)
		}
		seen[sc.Name] = true
		if !json.Valid(sc.Definition) || !json.Valid(sc.Input) {
			t.Fatalf("%s: definition or input is not JSON", sc.Name)
		}
	}
	return all
}

// TestEnginesAgree runs every scenario in internal/sfnlocal and in aws-local-stepfunctions and
// compares state paths, task inputs and final status/output/error.
func TestEnginesAgree(t *testing.T) {
	tools, err := findNodeTools(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	scenarios := allScenarios(t)
	ctx := context.Background()
	start := time.Now()
	node, err := runNode(ctx, tools, scenarios)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("aws-local-stepfunctions ran %d scenarios in %v", len(scenarios), time.Since(start).Round(time.Millisecond))
	for _, o := range node {
		if o.Millis > 500 {
			t.Logf("aws-local-stepfunctions took %d ms for %s", o.Millis, o.Name)
		}
	}
	slowest, slowestTook := "", time.Duration(0)
	defer func() { t.Logf("slowest in sfnlocal: %s, %v", slowest, slowestTook.Round(time.Millisecond)) }()
	scenariosRun = len(scenarios)
	for _, sc := range scenarios {
		began := time.Now()
		local := runSfnlocal(ctx, sc)
		if took := time.Since(began); took > slowestTook {
			slowest, slowestTook = sc.Name, took
		}
		other, ok := node[sc.Name]
		if !ok {
			t.Errorf("%s: the Node runner returned no result", sc.Name)
			differences++
			continue
		}
		if diffs := compare(sc, local, other); len(diffs) > 0 {
			differences++
			t.Errorf("%s: engines differ (sfnlocal vs aws-local-stepfunctions):\n  %s", sc.Name, strings.Join(diffs, "\n  "))
		}
		if sc.Want != nil {
			for engine, o := range map[string]outcome{"sfnlocal": local, "aws-local-stepfunctions": other} {
				for _, p := range sc.Want.check(o) {
					t.Errorf("%s: %s: %s", sc.Name, engine, p)
				}
			}
		}
	}
}

// Without `make tools` the test must fail and say so, not skip.
func TestMissingNodeToolsNameMakeTools(t *testing.T) {
	_, err := findNodeTools(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "make tools") || !strings.Contains(err.Error(), "node") {
		t.Fatalf("findNodeTools in an empty tree: %v; want an error naming the missing node binary and `make tools`", err)
	}
}

// compare lists the differences between two engines' outcomes. The top-level state path must
// be equal in order; states nested in Parallel and Map run concurrently, so their entries are
// compared as a multiset, as are task calls.
func compare(sc Scenario, a, b outcome) []string {
	var d []string
	if a.Problem != "" || b.Problem != "" {
		return append(d, fmt.Sprintf("problem: %q vs %q", a.Problem, b.Problem))
	}
	if a.Status != b.Status {
		d = append(d, fmt.Sprintf("status %s vs %s (errors %s %q / %s %q)", a.Status, b.Status, a.Error, a.Cause, b.Error, b.Cause))
	}
	if a.Status == "SUCCEEDED" && b.Status == "SUCCEEDED" && !testutil.JSONEqual(a.Output, b.Output) {
		d = append(d, fmt.Sprintf("output %s vs %s", a.Output, b.Output))
	}
	if a.Error != b.Error {
		d = append(d, fmt.Sprintf("error %q vs %q", a.Error, b.Error))
	}
	if !sc.IgnoreCause && a.Cause != b.Cause {
		d = append(d, fmt.Sprintf("cause %q vs %q", a.Cause, b.Cause))
	}
	top := topLevelStates(sc.Definition)
	aTop, aNested := splitPath(a.Path, top)
	bTop, bNested := splitPath(b.Path, top)
	if !slices.Equal(aTop, bTop) {
		d = append(d, fmt.Sprintf("path %v vs %v", aTop, bTop))
	}
	if !slices.Equal(aNested, bNested) {
		d = append(d, fmt.Sprintf("nested states entered %v vs %v", aNested, bNested))
	}
	if ac, bc := canonicalCalls(a.Calls), canonicalCalls(b.Calls); !slices.Equal(ac, bc) {
		d = append(d, callDiff(ac, bc))
	}
	return d
}

func (w *Want) check(o outcome) []string {
	var p []string
	if w.Path != nil && !slices.Equal(o.Path, w.Path) {
		p = append(p, fmt.Sprintf("path %v, want %v", o.Path, w.Path))
	}
	if o.Status != w.Status || o.Error != w.Error {
		p = append(p, fmt.Sprintf("ended %s %s (%s), want %s %s", o.Status, o.Error, o.Cause, w.Status, w.Error))
	}
	if w.Cause != "" && o.Cause != w.Cause {
		p = append(p, fmt.Sprintf("cause %q, want %q", o.Cause, w.Cause))
	}
	for state, n := range w.Calls {
		got := 0
		for _, c := range o.Calls {
			if c.State == state {
				got++
			}
		}
		if got != n {
			p = append(p, fmt.Sprintf("%d calls of %s, want %d", got, state, n))
		}
	}
	return p
}

func topLevelStates(def json.RawMessage) map[string]bool {
	var d struct{ States map[string]json.RawMessage }
	_ = json.Unmarshal(def, &d)
	top := map[string]bool{}
	for name := range d.States {
		top[name] = true
	}
	return top
}

func splitPath(path []string, top map[string]bool) (topLevel, nested []string) {
	for _, name := range path {
		if top[name] {
			topLevel = append(topLevel, name)
		} else {
			nested = append(nested, name)
		}
	}
	slices.Sort(nested)
	return topLevel, nested
}

// callDiff says how two sorted call lists differ: their lengths and the first call that differs.
func callDiff(a, b []string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	at := func(l []string) string {
		if i < len(l) {
			return l[i]
		}
		return "(none)"
	}
	return fmt.Sprintf("task calls: %d vs %d; first difference:\n    %s\n  vs\n    %s", len(a), len(b), at(a), at(b))
}

func canonicalCalls(calls []call) []string {
	var s []string
	for _, c := range calls {
		s = append(s, c.State+" "+canonicalJSON(c.Input))
	}
	slices.Sort(s)
	return s
}

func canonicalJSON(raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "!invalid " + string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
