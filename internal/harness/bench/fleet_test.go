package bench

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/localenv"
)

// BenchmarkFleet times the fleet (Distributed Map, grace and inactive 0) in the local engine
// over KEYROTOR_BENCH_FLEET_USERS users (default 1,000) with maxConcurrency
// KEYROTOR_BENCH_FLEET_CONCURRENCY (default DefaultFleetConcurrency, throttled
// DefaultThrottledFleetConcurrency), IAM held by the fault
// proxy to KEYROTOR_BENCH_FLEET_IAM_RATE calls per second (default: unthrottled), and
// reports per run the wall time, the floor IAM's rate sets, failed rotations, invariant
// violations, the parent's history events, its largest state and moto's CPU. Each iteration
// rotates the same users again. `make bench` runs the published plan through
// keyrotor-bench --fleet; `make test` never runs this.
//
//	go test -run '^$' -bench BenchmarkFleet -benchtime 1x ./internal/harness/bench/
func BenchmarkFleet(b *testing.B) {
	users := envInt("KEYROTOR_BENCH_FLEET_USERS", 1000)
	plan := FleetPlan{Concurrency: envInt("KEYROTOR_BENCH_FLEET_CONCURRENCY", DefaultFleetConcurrency)}
	if v, err := strconv.ParseFloat(os.Getenv("KEYROTOR_BENCH_FLEET_IAM_RATE"), 64); err == nil && v > 0 {
		plan.IAMRate = v
		plan.Concurrency = envInt("KEYROTOR_BENCH_FLEET_CONCURRENCY", DefaultThrottledFleetConcurrency)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	env, err := localenv.Up(ctx, localenv.Options{Root: "../../.."})
	if err != nil {
		b.Fatal(err)
	}
	defer env.Close()
	names, err := CreateFleet(ctx, env, "/bench-fleet/", users)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		run, err := MeasureFleet(ctx, env, "/bench-fleet/", names, plan)
		if err != nil {
			b.Fatal(err)
		}
		if run.Failed != 0 || run.Violated != 0 {
			b.Fatalf("fleet of %d: %d failed, %d violations", users, run.Failed, run.Violated)
		}
		b.ReportMetric(run.Seconds, "s/fleet")
		b.ReportMetric(float64(run.Users)/run.Seconds, "rotations/s")
		if run.FloorS != nil {
			b.ReportMetric(*run.FloorS, "floor-s")
			b.ReportMetric(*run.Ratio, "x-floor")
		}
		b.ReportMetric(run.IAMCallsPerRotation, "iam-calls/rotation")
		b.ReportMetric(float64(run.Events), "parent-events")
		b.ReportMetric(float64(run.MaxState), "max-state-bytes")
		b.ReportMetric(run.MotoShare*100, "moto-cpu-%")
		b.Logf("fleet of %d users (maxConcurrency %d, IAM rate %v): %.1fs, floor %v, %d failed, %d violations, %d parent events, largest state %d bytes, %.2f IAM calls/rotation (%d throttled), moto %.1f CPU-s (%.0f%% of the machine)",
			run.Users, plan.Concurrency, plan.IAMRate, run.Seconds, fmtFloor(run.FloorS), run.Failed, run.Violated, run.Events, run.MaxState,
			run.IAMCallsPerRotation, run.IAMThrottled, run.MotoCPUS, run.MotoShare*100)
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func fmtFloor(f *float64) string {
	if f == nil {
		return "none"
	}
	return strconv.FormatFloat(*f, 'f', 1, 64)
}

func TestParseFleetSpecs(t *testing.T) {
	tests := []struct {
		in      string
		want    []FleetSpec
		wantErr bool
	}{
		{"", nil, false},
		{"none", nil, false},
		{"5000@25", []FleetSpec{{Users: 5000, IAMRate: 25, Repeats: 1}}, false},
		{"5000@12.5x2,1000x3", []FleetSpec{{Users: 5000, IAMRate: 12.5, Repeats: 2}, {Users: 1000, Repeats: 3}}, false},
		{"100", []FleetSpec{{Users: 100, Repeats: 1}}, false},
		{"5000@40x2:aws", []FleetSpec{{Users: 5000, IAMRate: 40, Repeats: 2, AWSClock: true}}, false},
		{"10*500@40:aws", []FleetSpec{{Accounts: 10, Users: 500, IAMRate: 40, Repeats: 1, AWSClock: true}}, false},
		{"3*50@40x2", []FleetSpec{{Accounts: 3, Users: 50, IAMRate: 40, Repeats: 2}}, false},
		{"5001", nil, true},
		{"0", nil, true},
		{"100@0", nil, true},
		{"100@x", nil, true},
		{"100x0", nil, true},
		{"lots", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseFleetSpecs(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseFleetSpecs(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("ParseFleetSpecs(%q) = %v, want %v", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("ParseFleetSpecs(%q)[%d] = %+v, want %+v", tt.in, i, got[i], tt.want[i])
			}
		}
		if len(got) > 0 {
			if again, err := ParseFleetSpecs(joinSpecs(got)); err != nil || len(again) != len(got) {
				t.Errorf("ParseFleetSpecs(%q) does not read back its String form %q", tt.in, joinSpecs(got))
			}
		}
	}
}

func joinSpecs(specs []FleetSpec) string {
	s := ""
	for i, sp := range specs {
		if i > 0 {
			s += ","
		}
		s += sp.String()
	}
	return s
}

// TestGroupFleetSpread: runs of the same size and rate are grouped with their min–max, and
// the goal holds only when every run is within 1.25× its floor with nothing failed.
func TestGroupFleetSpread(t *testing.T) {
	rate := 20.0
	f := func(x float64) *float64 { return &x }
	runs := []FleetRun{
		{Users: 100, IAMRate: &rate, Seconds: 60, FloorS: f(50), Ratio: f(1.2)},
		{Users: 1000, Seconds: 190},
		{Users: 100, IAMRate: &rate, Seconds: 55, FloorS: f(50), Ratio: f(1.1)},
		{Users: 1000, Seconds: 210, Failed: 1},
	}
	g := groupFleet(runs)
	if len(g) != 2 || len(g[0].Runs) != 2 || len(g[1].Runs) != 2 {
		t.Fatalf("groups = %+v", g)
	}
	if g[0].MinS != 55 || g[0].MaxS != 60 || g[0].MinRatio != 1.1 || g[0].MaxRatio != 1.2 || !g[0].WithinGoal {
		t.Errorf("throttled group = %+v", g[0])
	}
	if g[1].MinS != 190 || g[1].MaxS != 210 || g[1].WithinGoal || g[1].Failed != 1 {
		t.Errorf("unthrottled group = %+v", g[1])
	}
	runs[0].Ratio = f(1.3)
	if groupFleet(runs)[0].WithinGoal {
		t.Error("a run at 1.3× its floor met the goal")
	}
}
