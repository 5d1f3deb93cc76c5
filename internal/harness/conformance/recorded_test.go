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

	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// RecordedCase is one execution AWS ran, restated from LocalStack's snapshot tests
// (localstack/localstack, tests/aws/services/stepfunctions/, Apache-2.0), which record real
// AWS responses: the definition, the input, what each Task's resource answered (the recorded
// Lambda results, as task stubs) and what AWS did.
type RecordedCase struct {
	Name string `json:"name"`
	// Source is the snapshot file, the test and the recording the case restates.
	Source     string              `json:"source"`
	Definition json.RawMessage     `json:"definition"`
	Input      json.RawMessage     `json:"input"`
	Tasks      map[string][]Result `json:"tasks,omitempty"`
	Want       RecordedOutcome     `json:"want"`
	// KnownCauseDifference, when set, says why sfnlocal's Cause is worded unlike AWS's (the
	// States.Runtime sentences); the cause must then still mention CauseMentions.
	KnownCauseDifference string   `json:"knownCauseDifference,omitempty"`
	CauseMentions        []string `json:"causeMentions,omitempty"`
	// Fill names JSON strings in the definition, input and task results that stand for a long
	// string (the recordings' over-quota payloads), so the case file stays small.
	Fill map[string]Fill `json:"fill,omitempty"`
}

// Fill is Unit repeated Times.
type Fill struct {
	Unit  string `json:"unit"`
	Times int    `json:"times"`
}

// expand replaces each Fill placeholder (as a whole JSON string) by its long string.
func (c *RecordedCase) expand() {
	for name, f := range c.Fill {
		long, _ := json.Marshal(strings.Repeat(f.Unit, f.Times))
		quoted, _ := json.Marshal(name)
		sub := func(raw json.RawMessage) json.RawMessage {
			return json.RawMessage(strings.ReplaceAll(string(raw), string(quoted), string(long)))
		}
		c.Definition, c.Input = sub(c.Definition), sub(c.Input)
		for state, results := range c.Tasks {
			for i := range results {
				if results[i].Output != nil {
					c.Tasks[state][i].Output = sub(results[i].Output)
				}
			}
		}
	}
}

// RecordedOutcome is what AWS recorded for the execution.
type RecordedOutcome struct {
	Status string          `json:"status"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
	Cause  *string         `json:"cause,omitempty"`
	// Events are the history's event types in order (absent where the recording kept only the
	// output).
	Events []string `json:"events,omitempty"`
}

func loadRecorded(t *testing.T) []RecordedCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("recorded", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded cases under recorded/ (%v)", err)
	}
	var all []RecordedCase
	seen := map[string]bool{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cases []RecordedCase
		dec := json.NewDecoder(strings.NewReader(string(src)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cases); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range cases {
			if c.KnownCauseDifference != "" && len(c.CauseMentions) == 0 {
				t.Fatalf("%s: case %q: a known cause difference must name what the cause still mentions", f, c.Name)
			}
			if c.Name == "" || seen[c.Name] || !strings.Contains(c.Source, "tests/aws/services/stepfunctions/") {
				t.Fatalf("%s: case %q: every case needs a unique name and the snapshot path it restates", f, c.Name)
			}
			seen[c.Name] = true
			c.expand()
			all = append(all, c)
		}
	}
	return all
}

// Set by TestSfnlocalMatchesAWSRecordings, printed by TestMain.
var recordedRun, recordedDifferences int

// TestSfnlocalMatchesAWSRecordings runs every recorded AWS case in internal/sfnlocal and holds
// it to AWS's recorded status, output, error, cause and history event types.
func TestSfnlocalMatchesAWSRecordings(t *testing.T) {
	cases := loadRecorded(t)
	recordedRun = len(cases)
	for _, c := range cases {
		if diffs := runRecorded(c); len(diffs) > 0 {
			recordedDifferences++
			t.Errorf("%s (%s):\n  %s", c.Name, c.Source, strings.Join(diffs, "\n  "))
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func runRecorded(c RecordedCase) []string {
	sm, err := sfnlocal.Parse(c.Definition)
	if err != nil {
		return []string{fmt.Sprintf("sfnlocal refused the definition AWS ran: %v", err)}
	}
	ex, _ := runStubbed(context.Background(), sm, c.Name, c.Input, c.Tasks)
	var diffs []string
	if ex.Status != c.Want.Status {
		diffs = append(diffs, fmt.Sprintf("status %s, AWS %s (error %q, cause %q)", ex.Status, c.Want.Status, ex.Error, ex.Cause))
	}
	if c.Want.Status == sfnlocal.StatusSucceeded && !testutil.JSONEqual(ex.Output, c.Want.Output) {
		diffs = append(diffs, fmt.Sprintf("output %s, AWS %s", ex.Output, c.Want.Output))
	}
	if ex.Error != c.Want.Error {
		diffs = append(diffs, fmt.Sprintf("error %q, AWS %q", ex.Error, c.Want.Error))
	}
	switch {
	case c.KnownCauseDifference != "":
		for _, m := range c.CauseMentions {
			if !strings.Contains(ex.Cause, m) {
				diffs = append(diffs, fmt.Sprintf("cause %q does not mention %q (AWS: %q)", ex.Cause, m, deref(c.Want.Cause)))
			}
		}
	case c.Want.Cause != nil && ex.Cause != *c.Want.Cause:
		diffs = append(diffs, fmt.Sprintf("cause %q, AWS %q", ex.Cause, *c.Want.Cause))
	}
	if c.Want.Events != nil {
		got := make([]string, len(ex.History))
		for i, e := range ex.History {
			got[i] = e.Type
		}
		if !slices.Equal(got, c.Want.Events) {
			diffs = append(diffs, fmt.Sprintf("history %v,\n    AWS %v", got, c.Want.Events))
		}
	}
	return diffs
}
