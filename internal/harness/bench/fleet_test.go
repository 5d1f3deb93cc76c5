package bench

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/localenv"
)

// BenchmarkFleet times the fleet (Distributed Map, grace and inactive 0, IAM unthrottled) in
// the local engine over KEYROTOR_BENCH_FLEET_USERS users (default 1,000) with
// maxConcurrency KEYROTOR_BENCH_FLEET_CONCURRENCY (default 50), and reports per run the wall
// time, failed rotations, invariant violations, the parent's history events, its largest state
// and moto's CPU. Each iteration rotates the same users again.
//
//	go test -run '^$' -bench BenchmarkFleet -benchtime 1x ./internal/harness/bench/
func BenchmarkFleet(b *testing.B) {
	users := envInt("KEYROTOR_BENCH_FLEET_USERS", 1000)
	concurrency := envInt("KEYROTOR_BENCH_FLEET_CONCURRENCY", 50)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
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
		run, err := MeasureFleet(ctx, env, "/bench-fleet/", names, concurrency)
		if err != nil {
			b.Fatal(err)
		}
		if run.Failed != 0 || run.Violated != 0 {
			b.Fatalf("fleet of %d: %d failed, %d violations", users, run.Failed, run.Violated)
		}
		b.ReportMetric(run.Seconds, "s/fleet")
		b.ReportMetric(float64(run.Users)/run.Seconds, "rotations/s")
		b.ReportMetric(float64(run.Events), "parent-events")
		b.ReportMetric(float64(run.MaxState), "max-state-bytes")
		b.ReportMetric(run.MotoCPUS, "moto-cpu-s")
		b.ReportMetric(run.MotoShare*100, "moto-cpu-%")
		b.Logf("fleet of %d users (maxConcurrency %d): %.1fs, %d failed, %d violations, %d parent events, largest state %d bytes, moto %.1f CPU-s (%.0f%% of the machine)",
			run.Users, concurrency, run.Seconds, run.Failed, run.Violated, run.Events, run.MaxState, run.MotoCPUS, run.MotoShare*100)
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
