package conformance

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/keyrotor/keyrotor/internal/harness/testutil"
)

// alsfDisagreements are the recorded AWS cases aws-local-stepfunctions 3.0.0 gets wrong (by
// case-name prefix), and how; README.md lists them. The recording wins: sfnlocal follows AWS.
var alsfDisagreements = map[string]string{
	"base/fail-empty":                   "a Fail state without Error/Cause: AWS records no error or cause; it reports FailStateError and a sentence",
	"map/catch-empty-fail":              "the same, through a Map",
	"base/fail-intrinsic":               "CausePath with an intrinsic function (States.Format): AWS evaluates it; it fails with States.Runtime",
	"choice/IsString-":                  "IsString false: AWS matches non-strings; it never matches",
	"intrinsic/format-2-7":              "States.Format of an object: AWS writes it in Java's Map notation; it refuses",
	"intrinsic/string-to-json-0":        "States.StringToJson of an empty string: AWS answers null; it fails with a SyntaxError",
	"intrinsic/string-to-json-1":        "the same for a blank string",
	"lambda/retry-max-attempts-zero":    "$$.State.RetryCount: AWS has it; it does not",
	"limits/":                           "payloads over 256 KiB: AWS fails with States.DataLimitExceeded (a Task result: catchable); it runs on",
	"paths/wildcard-or-slice-no-input-": "a wildcard or slice over a missing array: AWS gives []; it fails with States.Runtime",
	"wait/seconds-path--1":              "SecondsPath -1: AWS fails with States.Runtime; the runner's 0 ms Wait override skips SecondsPath",
	"wait/seconds-path-1.5":             "SecondsPath 1.5: the same",
}

// alsfKey is the alsfDisagreements entry covering a case: its exact name, or a prefix ending in
// "-" or "/".
func alsfKey(name string) (string, bool) {
	for key := range alsfDisagreements {
		if name == key || (strings.HasSuffix(key, "-") || strings.HasSuffix(key, "/")) && strings.HasPrefix(name, key) {
			return key, true
		}
	}
	return "", false
}

// TestAwsLocalStepfunctionsAgainstRecordings runs every recorded AWS case in
// aws-local-stepfunctions and checks that it departs from AWS exactly where
// alsfDisagreements (and README.md) say. It runs all cases in Node (~20 s on this machine), so
// it is opt-in: KEYROTOR_ALSF_RECORDED=1.
func TestAwsLocalStepfunctionsAgainstRecordings(t *testing.T) {
	if os.Getenv("KEYROTOR_ALSF_RECORDED") != "1" {
		t.Skip("set KEYROTOR_ALSF_RECORDED=1 to run the recorded AWS cases in aws-local-stepfunctions (~20 s)")
	}
	tools, err := findNodeTools(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cases := loadRecorded(t)
	var scs []Scenario
	for _, c := range cases {
		scs = append(scs, Scenario{Name: c.Name, Definition: c.Definition, Input: c.Input, Tasks: c.Tasks})
	}
	node, err := runNode(context.Background(), tools, scs)
	if err != nil {
		t.Fatal(err)
	}
	var unexpected []string
	disagreed := map[string]bool{}
	for _, c := range cases {
		o := node[c.Name]
		agrees := o.Status == c.Want.Status && o.Error == c.Want.Error &&
			(c.Want.Status != "SUCCEEDED" || testutil.JSONEqual(o.Output, c.Want.Output)) &&
			(c.Want.Cause == nil || c.KnownCauseDifference != "" || o.Cause == *c.Want.Cause)
		key, known := alsfKey(c.Name)
		switch {
		case !agrees && !known:
			unexpected = append(unexpected, c.Name+": "+o.Status+" "+o.Error+" "+o.Cause+o.Problem)
		case !agrees:
			disagreed[key] = true
		}
	}
	var nowAgree []string
	for key := range alsfDisagreements {
		if !disagreed[key] {
			nowAgree = append(nowAgree, key)
		}
	}
	sort.Strings(nowAgree)
	sort.Strings(unexpected)
	for _, u := range unexpected {
		t.Errorf("aws-local-stepfunctions departs from AWS, not listed: %s", u)
	}
	for _, a := range nowAgree {
		t.Errorf("aws-local-stepfunctions now agrees with AWS on %s: drop it from alsfDisagreements and README.md", a)
	}
}
