// Package bench measures keyrotor against the targets of its benchmarks: verification latency
// under IAM propagation delay, cost per rotation, Lambda package size and init time, local
// engine speed against aws-local-stepfunctions, and the local end-to-end rotation time. Every
// figure is measured or computed in the run (published prices are the only constants) and
// written to results.json, BENCHMARKS.md and an SVG plot.
package bench

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/localenv"
)

// Size chooses how long the benchmarks run.
type Size string

const (
	// Full is the published run: D = 0, 2, 8, 15 s, seconds of engine timing, several samples.
	Full Size = "full"
	// Tiny runs every benchmark with the least work that still measures it (D = 0, 1 s, one
	// sample each): for the test that checks `make bench` works, not for figures.
	Tiny Size = "tiny"
)

// ParseSize accepts "full" or "tiny".
func ParseSize(s string) (Size, error) {
	switch Size(s) {
	case Full, Tiny:
		return Size(s), nil
	}
	return "", fmt.Errorf("unknown benchmark size %q: use full or tiny", s)
}

// plan is what a size means.
type plan struct {
	delays      []time.Duration
	e2eRuns     int
	initSamples int
	// verifyRepeats is how many rotations measure each D.
	verifyRepeats int
	engine        enginePlan
}

func planFor(s Size) plan {
	if s == Tiny {
		return plan{
			delays: []time.Duration{0, time.Second}, e2eRuns: 1, initSamples: 1, verifyRepeats: 1,
			engine: enginePlan{warmup: 5, rounds: 1, minRuns: 20, roundTime: 200 * time.Millisecond},
		}
	}
	return plan{
		delays:  []time.Duration{0, 2 * time.Second, 8 * time.Second, 15 * time.Second},
		e2eRuns: 5, initSamples: 7, verifyRepeats: 3,
		engine: enginePlan{warmup: 500, rounds: 6, minRuns: 200, roundTime: 750 * time.Millisecond},
	}
}

// Options configure Run.
type Options struct {
	// Root is the repository root; empty: found from the working directory.
	Root string
	Size Size
	// Packages is the build whose Lambda packages are sized: "" or "arm64", what Terraform
	// deploys (`make build`: build/arm64 and build/<fn>.zip); "host", the bootstraps `make test`
	// builds (build/host, zipped in memory), for a check of the measurement, not a figure.
	Packages string
	// OutDir receives results.json, BENCHMARKS.md and verify-latency.svg; empty: <Root>/bench.
	OutDir string
	// Logger receives progress records (nil: discarded).
	Logger *slog.Logger

	// Fleet is the fleet plan (ParseFleetSpecs: "5000@20,1000x3"); empty: the size's default
	// (DefaultFleetPlan or TinyFleetPlan); "none": no fleet run.
	Fleet string
	// FleetConcurrency is the fleets' maxConcurrency (0: DefaultFleetConcurrency, or
	// DefaultThrottledFleetConcurrency for a throttled fleet); FleetBurstS
	// the IAM token bucket's size in seconds of its rate (0: 1 s).
	FleetConcurrency int
	FleetBurstS      float64
	// FleetOnly measures the fleet plan alone and keeps every other figure of the results.json
	// already in the output directory; FleetAppend adds the runs to its fleet runs instead of
	// replacing them.
	FleetOnly, FleetAppend bool
	// FleetFrom measures nothing: the fleet runs of these results.json files replace those of
	// the output directory's results.json, and BENCHMARKS.md is written again.
	FleetFrom []string
}

// DefaultFleetPlan is the published fleet plan of a full run (about an hour on 2 cores);
// TinyFleetPlan the one `make test` runs (a fleet of 10 users with IAM throttled, to check the
// measurement, not a figure).
const (
	DefaultFleetPlan = "5000@40,1000x2,1000@40x2"
	TinyFleetPlan    = "10@20"
)

// The fleets' maxConcurrency unless told otherwise: unthrottled, enough rotations at once to
// keep this machine busy; throttled, enough to keep IAM's bucket drained without so many
// callers backing off at once that steps run out of attempts (at 40 calls/s: 20 — with 50,
// 112 of 200 rotations failed Throttled at 20 calls/s).
const (
	DefaultFleetConcurrency          = 50
	DefaultThrottledFleetConcurrency = 20
)

// Results is results.json. The first keys are the ones compared across commits.
type Results struct {
	Verify                 []VerifyPoint `json:"verify"`
	TransitionsPerRotation int           `json:"transitions_per_rotation"`
	// HappyPath is the states a happy-path rotation enters, "Name (Type)", from its history.
	HappyPath          []string    `json:"happy_path"`
	LambdaInvocations  int         `json:"lambda_invocations_per_rotation"`
	CostPer1000USD     float64     `json:"cost_per_1000_rotations_usd"`
	CostPerKeyMonthUSD float64     `json:"cost_per_key_month_usd"`
	SecretsManagerUSD  float64     `json:"secrets_manager_cost_per_key_month_usd"`
	Functions          []Function  `json:"functions"`
	SizeFloors         []SizeFloor `json:"bootstrap_size_floors"`
	EngineSpeedup      float64     `json:"engine_speedup_vs_aws_local_stepfunctions"`
	E2ERotationS       float64     `json:"e2e_rotation_s"`
	// MakeTestS is `make test`'s wall time when a run recorded it (see makeTestSeconds).
	MakeTestS    *float64 `json:"make_test_s"`
	MakeTestNote string   `json:"make_test_note"`
	// SetupTimes is the set-up times section setup-times.sh measured and wrote (it clones and
	// builds from empty caches: too long and too disturbing to run inside the benchmark).
	SetupTimes string `json:"setup_times,omitempty"`

	// Fleet is every fleet run (fleet.go), FleetBudget the fleet definition's quota budget at
	// 5,000 users.
	Fleet       []FleetRun  `json:"fleet"`
	FleetBudget FleetBudget `json:"fleet_budget"`

	Cost    Cost        `json:"cost"`
	Engine  EngineSpeed `json:"engine"`
	E2E     E2E         `json:"e2e"`
	Targets []Target    `json:"targets"`

	Machine   Machine `json:"machine"`
	GoVersion string  `json:"go_version"`
	Date      string  `json:"date"`
	Commit    string  `json:"commit,omitempty"`
	Size      Size    `json:"size"`
	// Seconds is how long the whole benchmark took.
	Seconds float64 `json:"seconds"`
}

// E2E is the local end-to-end rotation (D = 0, no waits) through the deployed state machine.
type E2E struct {
	Runs []float64 `json:"runs_s"` // the first run starts every function cold
	// MedianS is the headline figure; ColdS is the first run.
	MedianS float64 `json:"median_s"`
	ColdS   float64 `json:"cold_s"`
	// AWSWarmupS is the untimed first round of moto calls before the runs: moto loads a
	// service's backend on its first call (SSM's takes seconds), which is the emulator starting,
	// not a rotation.
	AWSWarmupS float64 `json:"aws_emulator_warmup_s"`
}

// Target is one issue-8 target and whether this run met it.
type Target struct {
	Name     string `json:"name"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// Machine describes where the figures were measured.
type Machine struct {
	CPU   string `json:"cpu"`
	Cores int    `json:"cores"`
	OS    string `json:"os"`
	Arch  string `json:"arch"`
	// LoadStart and LoadEnd are the 1-minute load averages when the run began and ended: other
	// work on the machine slows the wall-clock figures.
	LoadStart float64 `json:"load_average_start"`
	LoadEnd   float64 `json:"load_average_end"`
}

// Run measures everything, writes the files and returns the results.
func Run(ctx context.Context, opts Options) (*Results, error) {
	began := time.Now()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Size == "" {
		opts.Size = Full
	}
	root, err := deployed.FindRoot(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	out := opts.OutDir
	if out == "" {
		out = filepath.Join(root, "bench")
	}
	if opts.FleetOnly || len(opts.FleetFrom) > 0 {
		return runFleetOnly(ctx, root, out, opts, log)
	}
	fleetSpecs, err := fleetPlanFor(opts)
	if err != nil {
		return nil, err
	}
	p := planFor(opts.Size)
	r := &Results{
		Size: opts.Size, GoVersion: runtime.Version(), Date: began.UTC().Format(time.RFC3339),
		Machine: machine(), Commit: gitCommit(ctx, root),
	}

	packages := cmp.Or(opts.Packages, "arm64")
	if packages != "arm64" && packages != "host" {
		return nil, fmt.Errorf("bench: packages %q: want arm64 or host", opts.Packages)
	}
	log.Info("bench: Lambda packages and init durations")
	if r.Functions, err = measureFunctions(ctx, root, packages, p.initSamples); err != nil {
		return nil, err
	}
	if r.SizeFloors, err = measureSizeFloors(ctx, root, packages); err != nil {
		return nil, err
	}
	log.Info("bench: engine speed, sfnlocal and aws-local-stepfunctions")
	if r.Engine, err = measureEngines(ctx, root, p.engine); err != nil {
		return nil, err
	}
	r.EngineSpeedup = r.Engine.Speedup

	log.Info("bench: starting the local engine")
	env, err := localenv.Up(ctx, localenv.Options{Root: root})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer env.Close()
	if r.E2E.AWSWarmupS, err = warmAWS(ctx, env); err != nil {
		return nil, err
	}

	var cold rotationRun
	for i := range p.e2eRuns {
		log.Info("bench: end-to-end rotation", "run", i+1)
		run, err := rotate(ctx, env, fmt.Sprintf("bench-e2e-%d", i+1), 0)
		if err != nil {
			return nil, fmt.Errorf("bench: end-to-end rotation %d: %w", i+1, err)
		}
		if i == 0 {
			cold = run
		} else if run.transitions != cold.transitions || run.lambdaInvocations != cold.lambdaInvocations {
			return nil, fmt.Errorf("bench: happy-path rotations differ: %d transitions/%d invocations, then %d/%d",
				cold.transitions, cold.lambdaInvocations, run.transitions, run.lambdaInvocations)
		}
		r.E2E.Runs = append(r.E2E.Runs, run.seconds)
	}
	r.E2E.ColdS, r.E2E.MedianS = r.E2E.Runs[0], median(r.E2E.Runs)
	r.E2ERotationS = r.E2E.MedianS

	// Every D is measured verifyRepeats times, the delays taking turns so that a busy spell of
	// the machine does not land on one D only; each D reports its median rotation.
	samples := make([][]VerifyPoint, len(p.delays))
	for rep := range p.verifyRepeats {
		for i, d := range p.delays {
			log.Info("bench: verify latency", "delaySeconds", d.Seconds(), "repeat", rep+1)
			run, err := rotate(ctx, env, fmt.Sprintf("bench-verify-%gs-%d", d.Seconds(), rep+1), d)
			if err != nil {
				return nil, fmt.Errorf("bench: verify latency at D = %s: %w", d, err)
			}
			samples[i] = append(samples[i], run.verify)
		}
	}
	for _, s := range samples {
		r.Verify = append(r.Verify, medianVerify(s))
	}

	// A daily rotation starts its functions cold in AWS too, so the cold run's billed
	// durations (init included, as provided.al2023 bills it) price it.
	mem, err := engineMemoryMB(root)
	if err != nil {
		return nil, err
	}
	r.Cost = costModel(cold.transitions, cold.lambdaInvocations, cold.billedMS, mem)
	r.TransitionsPerRotation, r.LambdaInvocations, r.HappyPath = cold.transitions, cold.lambdaInvocations, cold.path
	r.CostPer1000USD, r.CostPerKeyMonthUSD, r.SecretsManagerUSD = r.Cost.Per1000USD, r.Cost.PerKeyMonthUSD, r.Cost.SecretsManager

	if r.FleetBudget, err = fleetBudget(root); err != nil {
		return nil, err
	}
	if len(fleetSpecs) > 0 {
		// The tiny plan runs in this engine; the published runs each get an engine of their own.
		var shared *localenv.Env
		if opts.Size == Tiny {
			shared = env
		}
		if r.Fleet, err = measureFleets(ctx, root, shared, fleetSpecs, opts.FleetConcurrency, opts.FleetBurstS, r.Commit, log.Info); err != nil {
			return nil, err
		}
	}

	r.MakeTestS, r.MakeTestNote = makeTestSeconds(root)
	if b, err := os.ReadFile(filepath.Join(root, setupTimesFile)); err == nil {
		r.SetupTimes = strings.TrimSpace(string(b))
	}
	r.Targets = targets(r)
	r.Machine.LoadEnd = loadAverage()
	r.Seconds = time.Since(began).Seconds()
	if err := write(out, r); err != nil {
		return nil, err
	}
	return r, nil
}

// setupTimesFile is the section internal/harness/bench/setup-times.sh writes.
const setupTimesFile = "bench/setup-times.md"

// makeTestFile is where a timed `make test` may leave its wall time in seconds.
const makeTestFile = "build/make-test.seconds"

// makeTestSeconds reads `make test`'s recorded wall time; the benchmark does not run make test
// itself (it would run the benchmark's own test, and everyone's, for many minutes).
func makeTestSeconds(root string) (*float64, string) {
	b, err := os.ReadFile(filepath.Join(root, makeTestFile))
	if err != nil {
		return nil, "no run of `make test` recorded its wall time in " + makeTestFile + " (the Makefile's test target does not write it), and the benchmark does not run make test itself"
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil || v <= 0 {
		return nil, fmt.Sprintf("%s holds %q, not a number of seconds", makeTestFile, strings.TrimSpace(string(b)))
	}
	return &v, "wall time of the last `make test` that wrote " + makeTestFile
}

func targets(r *Results) []Target {
	// Judge the verification points by the target that stands now, also in results measured
	// before it changed.
	for i := range r.Verify {
		r.Verify[i].WithinTarget = verifyWithin(r.Verify[i])
	}
	var ts []Target
	add := func(name, target, measured string, met bool) {
		ts = append(ts, Target{Name: name, Target: target, Measured: measured, Met: met})
	}
	for _, v := range r.Verify {
		add(fmt.Sprintf("verify at D = %g s", v.DelayS), fmt.Sprintf("≤ %.1f s, ≤ %d STS calls", v.DelayS+verifySlackS, verifyMaxSTSCalls(v.DelayS)),
			fmt.Sprintf("%.2f s, %s", v.VerifiedS, plural(v.STSCalls, "STS call")), v.WithinTarget)
	}
	add("state transitions per rotation", fmt.Sprintf("≤ %d", transitionsTarget), strconv.Itoa(r.TransitionsPerRotation), r.TransitionsPerRotation <= transitionsTarget)
	for _, f := range r.Functions {
		add("deployment zip "+f.Name, fmt.Sprintf("< %d MB (%s bytes)", zipMaxBytes>>20, commas(zipMaxBytes)), fmt.Sprintf("%s bytes (%.2f MB)", commas(f.ZipBytes), float64(f.ZipBytes)/(1<<20)), f.ZipBytes < zipMaxBytes)
		add("init duration "+f.Name, fmt.Sprintf("< %d ms", initTargetMS), fmt.Sprintf("%.1f ms", f.InitMS), f.InitMS < initTargetMS)
	}
	add("engine speed vs aws-local-stepfunctions", fmt.Sprintf("≥ %d×", engineSpeedupGoal), fmt.Sprintf("%.1f×", r.EngineSpeedup), r.EngineSpeedup >= engineSpeedupGoal)
	add("local end-to-end rotation", fmt.Sprintf("< %d s", e2eRotationTargetS), fmt.Sprintf("%.2f s", r.E2ERotationS), r.E2ERotationS < e2eRotationTargetS)
	for _, g := range groupFleet(r.Fleet) {
		if g.IAMRate == nil {
			continue
		}
		name := fmt.Sprintf("fleet of %s users, IAM at %g calls/s", commas(int64(g.Users)), *g.IAMRate)
		floor := "floor"
		if g.Accounts > 0 {
			name = fmt.Sprintf("fleet over %d accounts × %s users, IAM at %g calls/s each", g.Accounts, commas(int64(g.Users/g.Accounts)), *g.IAMRate)
			floor = "one account's floor"
		}
		if g.AWSClock {
			name += ", AWS's clock, waits 3,600 s + 86,400 s"
			floor += " + waits"
		}
		add(name, fmt.Sprintf("≤ %.2f× %s, 0 failed, 0 violations", g.Goal, floor),
			fmt.Sprintf("%s× %s (%s), %d failed, %d violations", spread(g.MinRatio, g.MaxRatio, "%.3f"), floor, plural(len(g.Runs), "run"), g.Failed, g.Violations), g.WithinGoal)
	}
	if b := r.FleetBudget; b.Users > 0 {
		add(fmt.Sprintf("fleet quota budget at %s users", commas(int64(b.Users))),
			fmt.Sprintf("< %s events, < %s bytes", commas(int64(b.HistoryQuota)), commas(int64(b.StateQuotaBytes))),
			fmt.Sprintf("%s events, %s bytes", commas(int64(b.HistoryEvents)), commas(int64(b.StateBytes))),
			b.HistoryEvents < b.HistoryQuota && b.StateBytes < b.StateQuotaBytes && b.ProblemsReported == 0)
	}
	return ts
}

func write(dir string, r *Results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"results.json":       append(js, '\n'),
		"BENCHMARKS.md":      []byte(markdown(r)),
		"verify-latency.svg": []byte(verifySVG(r.Verify)),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("bench: write %s: %w", name, err)
		}
	}
	return nil
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPU: "unknown", LoadStart: loadAverage()}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return m
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			m.CPU = strings.TrimSpace(v)
			break
		}
	}
	return m
}

// loadAverage is the 1-minute load average (0 where /proc/loadavg does not exist).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// gitCommit names the measured tree, with "+dirty" when it has uncommitted changes.
func gitCommit(ctx context.Context, root string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		// A copy of the tree without .git (a benchmark run apart from the work tree) names its
		// commit in KEYROTOR_BENCH_COMMIT.
		return os.Getenv("KEYROTOR_BENCH_COMMIT")
	}
	commit := strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		commit += "+dirty"
	}
	return commit
}

func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
