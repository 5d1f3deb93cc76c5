package aslrules

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixtureLoops bound the paging loop of the fixtures' fleets, which list users the way the fleet
// did before ListMoreUsers took the second and later pages (ListManagedUsers → MoreUsers →
// ListManagedUsers), 100 users a page.
var fixtureLoops = map[string]Bound{
	"ListManagedUsers": {(FleetUsers + 99) / 100, "listusers reads 100 users a call"},
	"MoreUsers":        {(FleetUsers + 99) / 100, "listusers reads 100 users a call"},
}

func check(t *testing.T, path string) Report {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bounds := KeyrotorLoops
	if strings.HasPrefix(path, "testdata") {
		bounds = fixtureLoops
	}
	rep, err := Check(FillPlaceholders(src), Options{LoopBounds: bounds})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rep
}

// problemKeys are "rule state" pairs, sorted, so a fixture's expectation names each problem.
func problemKeys(rep Report) []string {
	var keys []string
	for _, p := range rep.Problems {
		keys = append(keys, p.Rule+" "+p.State)
	}
	slices.Sort(keys)
	return keys
}

// Each broken fixture fails for its own reason, and only for it.
func TestBrokenFixturesFailForTheirRule(t *testing.T) {
	tests := []struct {
		fixture string
		want    []string // "rule state", one per problem
		mention []string // words the messages must carry
	}{
		{"inline-map-distributed-fields.asl.json", []string{
			"distributed-only Each", "distributed-only Each", "distributed-only Each", "distributed-only Each",
			"distributed-only Each", "distributed-only Each", "distributed-only Each", "distributed-only Each"},
			[]string{"ItemReader", "ItemBatcher", "ResultWriter", "Label", "ToleratedFailureCount ", "ToleratedFailureCountPath",
				"ToleratedFailurePercentage ", "ToleratedFailurePercentagePath"}},
		{"wrong-error-names.asl.json", []string{
			"error-name Invoke", "error-name Invoke", "error-name Invoke",
			"error-name Start", "error-name Start", "error-name Start", "error-name Start"},
			[]string{"StepFunctions.ExecutionLimitExceeded:", "Lambda.TimeoutException", "States.Bogus",
				"StepFunctions.ExecutionLimitExceededException without", "Lambda.ServiceException", "Throttled", "StepFunctions.NoSuchThing"}},
		{"max-concurrency.asl.json", []string{"max-concurrency Distributed", "max-concurrency Inline", "payload-budget "},
			[]string{"MaxConcurrency 100", "MaxConcurrency 20000", "at most 40"}},
		{"unbounded-loop.asl.json", []string{"loop-bound Poll"}, []string{"no known bound"}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			rep := check(t, filepath.Join("testdata", tt.fixture))
			if got := problemKeys(rep); !slices.Equal(got, tt.want) {
				t.Errorf("problems %q, want %q:\n%v", got, tt.want, rep.Problems)
			}
			var all strings.Builder
			for _, p := range rep.Problems {
				all.WriteString(p.String() + "\n")
			}
			for _, w := range tt.mention {
				if !strings.Contains(all.String()+" ", w) {
					t.Errorf("no problem mentions %q:\n%s", w, all.String())
				}
			}
		})
	}
}

// EXPECTED TO FAIL THE RULES: testdata/current-inline-fleet.asl.json is a copy of
// statemachine/rotate-fleet.asl.json as it stood before the Distributed Map rewrite (issue 14):
// an INLINE Map with a tolerated-failure threshold, a lone Exception-form retrier name, and
// every user's iteration in one history and every user in one state. The real file is checked
// by scripts/lint-asl.sh.
func TestCurrentInlineFleetFixtureFailsTheRules(t *testing.T) {
	rep := check(t, filepath.Join("testdata", "current-inline-fleet.asl.json"))
	want := []string{"distributed-only RotateEach", "error-name RotateEach", "error-name RotateEach/Rotate", "history-budget ", "payload-budget "}
	if got := problemKeys(rep); !slices.Equal(got, want) {
		t.Errorf("problems %q, want %q:\n%v", got, want, rep.Problems)
	}
	// ~8 events per rotated user (issue 13): 5,000 users are far over 25,000 in the worst case too.
	if rep.Events < 5*MaxHistoryEvents {
		t.Errorf("worst case %d events: the inline fleet's per-user history should dwarf the quota", rep.Events)
	}
	if rep.Payload < MaxPayloadBytes {
		t.Errorf("worst case payload %d bytes: 5,000 users in the state should pass 256 KiB", rep.Payload)
	}
}

// The rules are generic: a fleet on a Distributed Map that reads users with an ItemReader and
// writes results with a ResultWriter passes, with the per-user work in child executions.
func TestDistributedFleetPassesTheRules(t *testing.T) {
	rep := check(t, filepath.Join("testdata", "distributed-fleet.asl.json"))
	if len(rep.Problems) > 0 {
		t.Errorf("problems: %v", rep.Problems)
	}
	if rep.Events > 2000 || rep.Payload != 0 {
		t.Errorf("worst case %d events, %d bytes: a Distributed Map's history and state should not grow with the fleet", rep.Events, rep.Payload)
	}
}

// statemachine/rotate.asl.json passes every rule; its worst case (every retrier exhausted on
// the longest path, three grace extensions) is a few hundred events.
func TestRotationDefinitionPassesTheRules(t *testing.T) {
	rep := check(t, filepath.Join("..", "..", "..", "statemachine", "rotate.asl.json"))
	if len(rep.Problems) > 0 {
		t.Errorf("problems: %v", rep.Problems)
	}
	if rep.Events < 100 || rep.Events > 1000 {
		t.Errorf("worst case %d events, want a few hundred", rep.Events)
	}
}

// History events per state follow AWS's recorded shapes: a Lambda Task that succeeds first time
// is 5 events, each failed attempt 3 more (test_lambda_invoke_with_retry_base records 4 failed
// attempts and a catch: TaskStateEntered, 4 × Scheduled/Started/Failed, TaskStateExited).
func TestEventCountsFollowRecordedShapes(t *testing.T) {
	def := `{"StartAt":"T","States":{
	  "T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","Retry":[{"ErrorEquals":["States.ALL"],"MaxAttempts":3}],
	       "Catch":[{"ErrorEquals":["States.ALL"],"Next":"P"}],"Next":"P"},
	  "P":{"Type":"Pass","End":true}}}`
	rep, err := Check([]byte(def), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The worst case is 3 failed attempts, then success: ExecutionStarted, TaskStateEntered,
	// 3 × (Scheduled, Started, Failed), Scheduled, Started, Succeeded, TaskStateExited,
	// PassStateEntered, PassStateExited, ExecutionSucceeded.
	if want := 1 + 1 + 3*3 + 3 + 1 + 2 + 1; rep.Events != want {
		t.Errorf("events %d, want %d", rep.Events, want)
	}
}

// keyrotor's own definitions pass the rules with the loop bounds keyrotor declares; the fleet's
// history stays flat however many users it rotates (each is a child execution's history).
func TestKeyrotorDefinitionsPassTheRules(t *testing.T) {
	for _, name := range []string{"rotate.asl.json", "rotate-fleet.asl.json"} {
		t.Run(name, func(t *testing.T) {
			rep := check(t, filepath.Join("..", "..", "..", "statemachine", name))
			if len(rep.Problems) > 0 {
				t.Errorf("problems: %v", rep.Problems)
			}
			if rep.Events > 2000 || rep.Payload != 0 {
				t.Errorf("worst case %d events, %d bytes for %d users: the history and state should not grow with the fleet", rep.Events, rep.Payload, FleetUsers)
			}
		})
	}
}
