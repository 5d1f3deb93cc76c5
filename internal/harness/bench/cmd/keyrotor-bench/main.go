// Command keyrotor-bench runs keyrotor's benchmarks (what `make bench` calls). It lives in the
// harness, not in the user CLI: measuring keyrotor is not something its users run.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/keyrotor/keyrotor/internal/harness/bench"
)

func main() {
	asJSON := flag.Bool("json", false, "print results.json to stdout")
	size := flag.String("size", string(bench.Full), "full (the published figures) or tiny (minimal delays and samples)")
	out := flag.String("out", "", "directory for results.json, BENCHMARKS.md and the plot (default: bench/ in the repository)")
	var opts bench.Options
	flag.StringVar(&opts.Fleet, "fleet", "", "fleet runs, comma-separated [ACCOUNTS*]USERS[@IAM_RATE][xREPEATS][:aws], e.g. 5000@20 (5,000 users, IAM held to 20 calls/s), 1000x3 (three runs, unthrottled), 10*500@40:aws (500 users in each of 10 member accounts, IAM at 40 calls/s per account, on AWS's clock with the default waits); none: no fleet (default: "+bench.DefaultFleetPlan+", tiny: "+bench.TinyFleetPlan+")")
	flag.IntVar(&opts.FleetConcurrency, "fleet-concurrency", 0, fmt.Sprintf("the fleets' maxConcurrency (default %d, %d when IAM is throttled)", bench.DefaultFleetConcurrency, bench.DefaultThrottledFleetConcurrency))
	flag.Float64Var(&opts.FleetBurstS, "fleet-burst", 1, "the IAM token bucket's size, in seconds of its rate")
	flag.BoolVar(&opts.FleetOnly, "fleet-only", false, "run only the fleet plan, keeping the other figures of the output directory's results.json")
	flag.BoolVar(&opts.FleetAppend, "fleet-append", false, "with --fleet-only: add the runs to the fleet runs already in results.json instead of replacing them")
	fleetFrom := flag.String("fleet-from", "", "measure nothing: take the fleet runs of these comma-separated results.json files into the output directory's results.json and BENCHMARKS.md")
	flag.Parse()
	if *fleetFrom != "" {
		opts.FleetFrom = strings.Split(*fleetFrom, ",")
	}
	if err := run(*asJSON, *size, *out, opts); err != nil {
		fmt.Fprintln(os.Stderr, "keyrotor-bench:", err)
		os.Exit(1)
	}
}

func run(asJSON bool, size, out string, opts bench.Options) error {
	s, err := bench.ParseSize(size)
	if err != nil {
		return fmt.Errorf("--size: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	opts.Size, opts.OutDir, opts.Logger = s, out, log
	r, err := bench.Run(ctx, opts)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	for _, t := range r.Targets {
		mark := "met"
		if !t.Met {
			mark = "NOT met"
		}
		fmt.Printf("%-42s %-34s target %-28s %s\n", t.Name, t.Measured, t.Target, mark)
	}
	dir := out
	if dir == "" {
		dir = "bench"
	}
	fmt.Printf("wrote %s, %s and %s\n", filepath.Join(dir, "results.json"), filepath.Join(dir, "BENCHMARKS.md"), filepath.Join(dir, "verify-latency.svg"))
	return nil
}
