package bench

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunTinyWritesAllFigures runs every benchmark at the tiny size (what `make test` checks of
// `make bench`) and checks the files and that each figure is a measurement, not a placeholder.
// It asserts nothing about speed.
func TestRunTinyWritesAllFigures(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The host build's packages: `make test` builds no arm64 ones (layout's
	// TestFunctionsCompileTheSameFilesForTheDeployedArchitecture stands for them).
	r, err := Run(ctx, Options{Root: "../../..", Size: Tiny, OutDir: dir, Packages: "host"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	raw, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("results.json is not a JSON object: %v", err)
	}
	for _, key := range []string{
		"verify", "transitions_per_rotation", "lambda_invocations_per_rotation", "cost_per_1000_rotations_usd",
		"cost_per_key_month_usd", "secrets_manager_cost_per_key_month_usd", "functions",
		"engine_speedup_vs_aws_local_stepfunctions", "e2e_rotation_s", "make_test_s", "machine", "go_version", "date",
		"fleet", "fleet_budget",
	} {
		if _, ok := doc[key]; !ok {
			t.Errorf("results.json has no key %q", key)
		}
	}

	if len(r.Verify) != 2 {
		t.Fatalf("verify has %d points, want one per tiny delay (0 s, 1 s)", len(r.Verify))
	}
	for _, v := range r.Verify {
		// The key cannot be verified before it is valid, and each attempt is one STS call.
		if v.VerifiedS < v.DelayS || v.STSCalls < 1 || v.FirstAttemptS <= 0 || v.FirstAttemptS > v.VerifiedS {
			t.Errorf("implausible verify point %+v", v)
		}
	}
	if v := r.Verify[1]; v.FirstAttemptS < v.DelayS && v.STSCalls < 2 {
		t.Errorf("at D = 1 s the first attempt (%.2f s) came before the key was valid, yet %d STS call verified it", v.FirstAttemptS, v.STSCalls)
	}
	// A happy path invokes at least the four step functions' steps, each in a Task state, and
	// enters more states than it has Tasks (the Wait and Succeed states).
	if r.LambdaInvocations < 4 || r.TransitionsPerRotation <= r.LambdaInvocations {
		t.Errorf("happy path: %d transitions, %d invocations", r.TransitionsPerRotation, r.LambdaInvocations)
	}
	if len(r.HappyPath) != r.TransitionsPerRotation {
		t.Errorf("happy path %v has not the %d states counted", r.HappyPath, r.TransitionsPerRotation)
	}
	if d0 := r.Verify[0]; d0.Transitions != r.TransitionsPerRotation || d0.STSCalls != 1 {
		t.Errorf("at D = 0 the rotation is a happy path verified at the first attempt: %+v, happy path %d transitions", d0, r.TransitionsPerRotation)
	}
	if r.Cost.BilledMSPerRotation <= 0 || r.CostPer1000USD <= 0 || r.CostPerKeyMonthUSD <= 0 {
		t.Errorf("cost not computed: %+v", r.Cost)
	}
	if r.SecretsManagerUSD <= secretsManagerPerSecretMonthUSD {
		t.Errorf("Secrets Manager cost %v lacks its rotation Lambda and API calls", r.SecretsManagerUSD)
	}
	if len(r.Functions) != len(Functions) {
		t.Fatalf("%d functions measured, want %d", len(r.Functions), len(Functions))
	}
	for _, f := range r.Functions {
		if f.SizeBytes <= 0 || f.InitMS <= 0 || !f.Stripped {
			t.Errorf("function %+v: size, init or stripping not measured", f)
		}
		if f.Packages != "host" || f.ZipBytes <= 0 || f.ZipBytes >= f.SizeBytes {
			t.Errorf("function %+v: the host package was not sized, or its zip not deflated", f)
		}
	}
	if len(r.SizeFloors) != len(sizeFloors) {
		t.Errorf("size floors: %+v", r.SizeFloors)
	}
	for _, f := range r.SizeFloors {
		if f.SizeBytes <= 0 || f.Packages != "host" {
			t.Errorf("size floor %+v: not measured, or not the host build the test asked for", f)
		}
	}
	if r.Engine.StatesEntered != 10 || !r.Engine.SamePathOutput || r.EngineSpeedup <= 0 {
		t.Errorf("engine speed: %+v", r.Engine)
	}
	if r.E2ERotationS <= 0 || len(r.E2E.Runs) != 1 {
		t.Errorf("end-to-end: %+v", r.E2E)
	}
	if r.Machine.Cores <= 0 || r.GoVersion == "" || r.Date == "" {
		t.Errorf("machine/go/date missing: %+v %q %q", r.Machine, r.GoVersion, r.Date)
	}

	// The tiny fleet: users rotated with IAM throttled, the floor counted from the proxy. Whether
	// every rotation succeeded is the published run's figure, not asserted here.
	if len(r.Fleet) != 1 {
		t.Fatalf("fleet runs: %+v, want the tiny plan's one", r.Fleet)
	}
	f := r.Fleet[0]
	if f.Users != 10 || f.IAMRate == nil || f.FloorS == nil || *f.FloorS <= 0 || f.Ratio == nil || f.IAMCalls < f.Users ||
		f.Rotated+f.Failed != f.Users || f.Events <= 0 || f.MaxState <= 0 || f.Seconds <= 0 || f.Violated > f.Failed {
		t.Errorf("tiny fleet run %+v", f)
	}
	if b := r.FleetBudget; b.Users != 5000 || b.HistoryEvents <= 0 || b.HistoryEvents >= b.HistoryQuota || b.StateQuotaBytes != 256*1024 {
		t.Errorf("fleet budget %+v", b)
	}

	md, err := os.ReadFile(filepath.Join(dir, "BENCHMARKS.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## 1. Verification", "## 2. Transitions", "## 3. Lambda packages", "## 4. Local engine speed", "## 5. Local end-to-end", "## 7. Fleet", "verify-latency.svg", "## Reaching the targets"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("BENCHMARKS.md lacks %q", want)
		}
	}
	svg, err := os.ReadFile(filepath.Join(dir, "verify-latency.svg"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(svg), "<svg") || strings.Count(string(svg), "<circle") != 2 {
		t.Errorf("the plot does not show the two measured points:\n%s", svg)
	}
}
