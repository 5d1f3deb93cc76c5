package bench

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/localaws/faultproxy"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

func events(types ...string) []sfnlocal.HistoryEvent {
	var evs []sfnlocal.HistoryEvent
	t0 := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	for i, typ := range types {
		ev := sfnlocal.HistoryEvent{Type: typ, ID: int64(i + 1), Timestamp: t0.Add(time.Duration(i) * time.Second)}
		switch {
		case typ == "TaskStateExited":
			ev.Details = &sfnlocal.StateExitedEventDetails{Name: "VerifyKey"}
		case strings.HasSuffix(typ, "StateEntered"):
			ev.Details = &sfnlocal.StateEnteredEventDetails{Name: fmt.Sprintf("S%d", i+1)}
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestCountHistoryBillsEveryStateAndEveryRetry(t *testing.T) {
	tests := []struct {
		name              string
		events            []sfnlocal.HistoryEvent
		transitions, invs int
	}{
		{"task, wait, choice, succeed", events("ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionSucceeded", "TaskStateExited",
			"WaitStateEntered", "WaitStateExited", "ChoiceStateEntered", "ChoiceStateExited", "SucceedStateEntered", "ExecutionSucceeded"), 4, 1},
		{"a task retried twice", events("TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionFailed",
			"LambdaFunctionScheduled", "LambdaFunctionFailed", "LambdaFunctionScheduled", "LambdaFunctionSucceeded", "TaskStateExited"), 3, 3},
		{"a service integration task is not a Lambda invocation", events("TaskStateEntered", "TaskScheduled", "TaskSucceeded", "TaskStateExited"), 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := countHistory(tt.events)
			if c.transitions != tt.transitions || c.lambdaInvocations != tt.invs {
				t.Errorf("got %d transitions, %d invocations; want %d, %d", c.transitions, c.lambdaInvocations, tt.transitions, tt.invs)
			}
			if len(c.path) == 0 || !strings.HasSuffix(c.path[0], "(Task)") {
				t.Errorf("path %v does not start with the Task state entered first", c.path)
			}
		})
	}
}

func TestCountHistoryFindsVerifyKeyExit(t *testing.T) {
	evs := events("TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionSucceeded", "TaskStateExited")
	if c := countHistory(evs); !c.verifyExit.Equal(evs[3].Timestamp) {
		t.Errorf("verify exit %v, want %v", c.verifyExit, evs[3].Timestamp)
	}
	evs[3].Details = &sfnlocal.StateExitedEventDetails{Name: "StoreParameter"}
	if c := countHistory(evs); !c.verifyExit.IsZero() {
		t.Errorf("another state's exit was taken for VerifyKey's")
	}
}

func TestCreatedAtTakesTheUsersLastSuccessfulCreateAccessKey(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	calls := []faultproxy.Call{
		{Time: t0, Service: "iam", Action: "CreateAccessKey", Params: map[string]any{"UserName": "u"}},
		{Time: t0.Add(time.Second), Service: "iam", Action: "CreateAccessKey", Params: map[string]any{"UserName": "other"}},
		{Time: t0.Add(2 * time.Second), Service: "iam", Action: "CreateAccessKey", Params: map[string]any{"UserName": "u"}},
		{Time: t0.Add(3 * time.Second), Service: "iam", Action: "CreateAccessKey", Params: map[string]any{"UserName": "u"}, ErrorCode: "LimitExceeded"},
	}
	got, err := createdAt(calls, "u")
	if err != nil || !got.Equal(t0.Add(2*time.Second)) {
		t.Errorf("createdAt = %v, %v; want %v", got, err, t0.Add(2*time.Second))
	}
	if _, err := createdAt(calls, "nobody"); err == nil || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("no call for the user: err = %v, want one naming the user", err)
	}
}

func TestCostModelAddsUpItsParts(t *testing.T) {
	tests := []struct {
		name             string
		transitions, inv int
		billedMS         float64
		memoryMB         int
	}{
		{"happy path", 10, 6, 300, 256},
		{"retried verification", 15, 11, 900, 128},
		{"no lambda time", 10, 6, 0, 256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := costModel(tt.transitions, tt.inv, tt.billedMS, tt.memoryMB)
			near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }
			if !near(c.PerRotationUSD, c.StepFunctionsUSD+c.LambdaUSD) || !near(c.Per1000USD, 1000*c.PerRotationUSD) ||
				!near(c.PerKeyMonthUSD, c.RotationsPerMonth*c.PerRotationUSD) {
				t.Errorf("parts do not add up: %+v", c)
			}
			if !near(c.GBSecondsPerRot, tt.billedMS/1000*float64(tt.memoryMB)/1024) {
				t.Errorf("GB-seconds %v for %v ms at %d MB", c.GBSecondsPerRot, tt.billedMS, tt.memoryMB)
			}
			if c.RotationsPerMonth < 30 || c.RotationsPerMonth > 31 {
				t.Errorf("a daily schedule rotates %v times a month", c.RotationsPerMonth)
			}
			if c.SecretsManager <= secretsManagerPerSecretMonthUSD {
				t.Errorf("Secrets Manager %v lacks its rotation costs", c.SecretsManager)
			}
		})
	}
	if a, b := costModel(10, 6, 300, 256), costModel(11, 6, 300, 256); b.PerRotationUSD <= a.PerRotationUSD {
		t.Errorf("one more transition made a rotation no dearer")
	}
}

func TestEngineMemoryMBReadsTheVariableDefault(t *testing.T) {
	tests := []struct {
		name, hcl string
		want      int
		wantErr   string
	}{
		{"default", `variable "lambda_memory_mb" {
  type    = number
  default = 512
}
variable "other" { default = 1 }`, 512, ""},
		{"no default", `variable "lambda_memory_mb" { type = number }`, 0, "has no default"},
		{"not a number", `variable "lambda_memory_mb" { default = "big" }`, 0, "not a number"},
		{"missing", `variable "other" { default = 1 }`, 0, "declares no variable lambda_memory_mb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "infra", "modules", "engine")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "variables.tf"), []byte(tt.hcl), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := engineMemoryMB(root)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("engineMemoryMB = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestParseSizeRefusesUnknownSizes(t *testing.T) {
	for _, s := range []string{"full", "tiny"} {
		if got, err := ParseSize(s); err != nil || string(got) != s {
			t.Errorf("ParseSize(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := ParseSize("huge"); err == nil || !strings.Contains(err.Error(), "full or tiny") {
		t.Errorf("ParseSize(huge): err = %v, want one naming the sizes", err)
	}
}

func TestVerifySVGMarksMissedTargets(t *testing.T) {
	svg := verifySVG([]VerifyPoint{
		{DelayS: 0, VerifiedS: 0.1, STSCalls: 1, WithinTarget: true},
		{DelayS: 15, VerifiedS: 16.2, STSCalls: 9, WithinTarget: false},
	})
	if strings.Count(svg, "<circle") != 2 || !strings.Contains(svg, "16.20 s, 9 STS calls") || !strings.Contains(svg, `fill="#c62828"/>`) {
		t.Errorf("plot lacks the points, their labels or the missed-target colour:\n%s", svg)
	}
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("the plot is not well-formed XML: %v", err)
		}
	}
}

// The verification target is what whole-second ASL retries can promise: ⌈D/2⌉ + 2 calls within
// D + 2 s (a fixed 8 calls at D = 15 s was not, and is retired).
func TestVerifyTargetIsTheWholeSecondOptimum(t *testing.T) {
	for d, want := range map[float64]int{0: 2, 2: 3, 8: 6, 15: 10} {
		if got := verifyMaxSTSCalls(d); got != want {
			t.Errorf("at D = %g s the target allows %d calls, want %d", d, got, want)
		}
	}
	r := &Results{Verify: []VerifyPoint{{DelayS: 15, VerifiedS: 15.1, STSCalls: 9, WithinTarget: true}}, EngineSpeedup: 12, E2ERotationS: 0.5}
	if notes := strings.Join(closingNotes(r), "\n"); !strings.Contains(notes, "⌈D/2⌉ + 2 calls within D + 2 s") || !strings.Contains(notes, "1 of 1 delays met both") {
		t.Errorf("notes do not state the target that stands:\n%s", notes)
	}
}

func TestMedianVerifyTakesTheMedianRotationAndKeepsAll(t *testing.T) {
	tests := []struct {
		name     string
		verified []float64
		want     float64
	}{
		{"one", []float64{2.1}, 2.1},
		{"three", []float64{3.4, 2.1, 9.0}, 3.4},
		{"two takes the faster", []float64{3.4, 2.1}, 2.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pts []VerifyPoint
			for i, v := range tt.verified {
				pts = append(pts, VerifyPoint{DelayS: 2, VerifiedS: v, STSCalls: i + 1})
			}
			m := medianVerify(pts)
			if m.VerifiedS != tt.want || len(m.Samples) != len(pts) {
				t.Fatalf("median %v with %d samples; want %v with %d", m.VerifiedS, len(m.Samples), tt.want, len(pts))
			}
			for i, s := range m.Samples {
				if s.VerifiedS != tt.verified[i] || s.STSCalls != i+1 {
					t.Errorf("sample %d = %+v, want the %d-th rotation in measurement order", i, s, i+1)
				}
			}
		})
	}
}

func TestTypeCountsSummarizesThePathInOrder(t *testing.T) {
	got := typeCounts([]string{"CheckInput (Choice)", "Begin (Task)", "CreateKey (Task)", "GraceWait (Wait)", "Rotated (Succeed)"})
	if want := "1 Choice, 2 Task, 1 Wait, 1 Succeed"; got != want {
		t.Errorf("typeCounts = %q, want %q", got, want)
	}
}
