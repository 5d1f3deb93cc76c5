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

	"github.com/keyrotor/keyrotor/internal/harness/bench"
)

func main() {
	asJSON := flag.Bool("json", false, "print results.json to stdout")
	size := flag.String("size", string(bench.Full), "full (the published figures) or tiny (minimal delays and samples)")
	out := flag.String("out", "", "directory for results.json, BENCHMARKS.md and the plot (default: bench/ in the repository)")
	flag.Parse()
	if err := run(*asJSON, *size, *out); err != nil {
		fmt.Fprintln(os.Stderr, "keyrotor-bench:", err)
		os.Exit(1)
	}
}

func run(asJSON bool, size, out string) error {
	s, err := bench.ParseSize(size)
	if err != nil {
		return fmt.Errorf("--size: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	r, err := bench.Run(ctx, bench.Options{Size: s, OutDir: out, Logger: log})
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
