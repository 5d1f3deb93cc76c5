package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/keyrotor/keyrotor/internal/bench"
)

func newBenchCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		asJSON    bool
		size, out string
	)
	cmd := &cobra.Command{
		Use:   "bench [--json] [--size full|tiny] [--out DIR]",
		Short: "Measure verification latency, cost, package size, engine speed and rotation time",
		Long: `Runs keyrotor's benchmarks on this machine: verification latency under IAM propagation
delays of 0, 2, 8 and 15 s through the real state machine in the local engine, state
transitions, Lambda invocations and cost per rotation, bootstrap sizes and init durations,
the local engine's speed against aws-local-stepfunctions, and the local end-to-end rotation
time. Writes results.json, BENCHMARKS.md and verify-latency.svg to --out (default bench/ in
the repository). Needs 'make tools build'. --size tiny runs everything with the least work
(a check that the benchmarks run, not figures). --json prints results.json to stdout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := bench.ParseSize(size)
			if err != nil {
				return usagef("--size: %v", err)
			}
			log := slog.New(slog.NewJSONHandler(stderr, nil))
			r, err := bench.Run(cmd.Context(), bench.Options{Size: s, OutDir: out, Logger: log})
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			for _, t := range r.Targets {
				mark := "met"
				if !t.Met {
					mark = "NOT met"
				}
				fmt.Fprintf(stdout, "%-42s %-34s target %-28s %s\n", t.Name, t.Measured, t.Target, mark)
			}
			dir := out
			if dir == "" {
				dir = "bench"
			}
			fmt.Fprintf(stdout, "wrote %s, %s and %s\n", filepath.Join(dir, "results.json"), filepath.Join(dir, "BENCHMARKS.md"), filepath.Join(dir, "verify-latency.svg"))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print results.json to stdout")
	cmd.Flags().StringVar(&size, "size", string(bench.Full), "full (the published figures) or tiny (minimal delays and samples)")
	cmd.Flags().StringVar(&out, "out", "", "directory for results.json, BENCHMARKS.md and the plot (default: bench/ in the repository)")
	return cmd
}
