package faults

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/keyrotor/keyrotor/internal/harness/invariants"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
)

// Kind is one kind of fault injected at a call site.
type Kind string

const (
	// Throttled answers Throttling to three calls in a row: the SDK's own retries are used up
	// and the step fails Throttled, which the state machine retries.
	Throttled Kind = "throttle"
	// ServerError answers HTTP 500 to three calls in a row.
	ServerError Kind = "http500"
	// Denied answers AccessDenied once.
	Denied Kind = "denied"
	// Timeout never answers the call; the step ends at its deadline.
	Timeout Kind = "timeout"
	// Crash lets moto do the work, then kills the function's process before it reads the
	// answer (Lambda reports Runtime.ExitError). The shipped state machine retries the step,
	// which must find its earlier work: the run must end exactly as it does without the crash.
	Crash Kind = "crash"
)

// Kinds are every kind, in the order the matrix runs them.
var Kinds = []Kind{Throttled, ServerError, Denied, Timeout, Crash}

// Scenario is a starting situation and, for the rollback paths, a first fault that leads the
// rotation there; the matrix injects its faults at the call sites after that first fault.
type Scenario struct {
	Name string
	Seed Seed
	// Primary, if set, is the first fault: AccessDenied at the first call of this site.
	Primary *Site
}

// Scenarios cover every path through the state machine that makes AWS calls.
var Scenarios = []Scenario{
	{Name: "rotate"},
	{Name: "make-room", Seed: Seed{InactiveKey: true}},
	{Name: "release", Primary: &Site{Function: "createkey", Step: "create", Service: "iam", Action: "CreateAccessKey", K: 1}},
	{Name: "rollback", Primary: &Site{Function: "storeparam", Step: "store", Service: "ssm", Action: "PutParameter", K: 1}},
	{Name: "restore", Primary: &Site{Function: "verifykey", Step: "verify", Service: "sts", Action: "GetCallerIdentity", K: 1}},
}

// Case is one run of the matrix.
type Case struct {
	Scenario *Scenario
	primary  *Point
	Point    Point
	Kind     Kind
	// Traced is how the scenario's run without this case's fault ended.
	Traced Outcome
}

// Outcome is how a run ended: status, error and the states it entered.
type Outcome struct {
	Status, Error string
	Path          []string
}

func (o Outcome) String() string {
	return fmt.Sprintf("%s %s %v", o.Status, o.Error, o.Path)
}

func (c Case) String() string {
	return fmt.Sprintf("%s: %s at %s", c.Scenario.Name, c.Kind, c.Point.Site)
}

// CaseResult is one case's outcome.
type CaseResult struct {
	Case       Case
	Status     string
	Error      string
	Path       []string
	Fired      bool // the fault was injected (the call site was reached)
	Healed     bool // a lock was left and the next rotation broke it and succeeded
	Violations []invariants.Violation
}

// Trace runs a scenario once (with its primary fault, if any) and returns the call points
// after the primary fault, attributed to function and step, and how the run ended.
func (b *Bench) Trace(ctx context.Context, sc *Scenario) ([]Point, *Point, Outcome, error) {
	var primary *Point
	var points []Point
	if sc.Primary != nil {
		clean, _, _, err := b.Trace(ctx, &Scenario{Name: sc.Name + "/clean", Seed: sc.Seed})
		if err != nil {
			return nil, nil, Outcome{}, err
		}
		for i := range clean {
			if clean[i].Site == *sc.Primary {
				primary = &clean[i]
				break
			}
		}
		if primary == nil {
			return nil, nil, Outcome{}, fmt.Errorf("scenario %s: a clean run never reaches %s", sc.Name, sc.Primary)
		}
	}
	t, err := b.NewTarget(ctx, "trace", sc.Seed)
	if err != nil {
		return nil, nil, Outcome{}, err
	}
	b.Env.Proxy.ClearRules()
	if primary != nil {
		b.Env.Proxy.AddRule(ruleAt(*primary, faultproxy.AccessDenied, 1))
	}
	b.Env.Proxy.ResetCalls()
	run, err := b.Rotate(ctx, "", Input(t))
	b.Env.Proxy.ClearRules()
	if err != nil {
		return nil, nil, Outcome{}, err
	}
	want := "SUCCEEDED"
	if primary != nil {
		want = "FAILED"
	}
	if run.Status != want {
		return nil, nil, Outcome{}, fmt.Errorf("scenario %s: trace run ended %s (%s: %s), want %s", sc.Name, run.Status, run.Error, run.Cause, want)
	}
	all, err := b.Points(b.Env.Proxy.Calls(), run.Logs)
	if err != nil {
		return nil, nil, Outcome{}, fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	for _, p := range all {
		if primary == nil || p.Seq > primary.Seq {
			points = append(points, p)
		}
	}
	return points, primary, Outcome{Status: run.Status, Error: run.Error, Path: run.StatePath()}, nil
}

func ruleAt(p Point, f faultproxy.Fault, times int) faultproxy.Rule {
	return faultproxy.Rule{Service: p.Service, Action: p.Action, Skip: p.Nth, Times: times, Fault: f}
}

// Plan traces every scenario and returns the cases: each kind at each call site, a site
// reached by several scenarios taken once (in the first scenario that reaches it).
func (b *Bench) Plan(ctx context.Context, kinds []Kind) ([]Case, []Site, error) {
	var cases []Case
	var sites []Site
	for i := range Scenarios {
		sc := &Scenarios[i]
		points, primary, traced, err := b.Trace(ctx, sc)
		if err != nil {
			return nil, nil, err
		}
		for _, p := range points {
			if slices.Contains(sites, p.Site) {
				continue
			}
			sites = append(sites, p.Site)
			for _, k := range kinds {
				cases = append(cases, Case{Scenario: sc, primary: primary, Point: p, Kind: k, Traced: traced})
			}
		}
	}
	return cases, sites, nil
}

// RunCase runs one case on a fresh user and checks the invariants; a lock left behind must be
// broken by the next rotation, which must then succeed and leave no stray key.
func (b *Bench) RunCase(ctx context.Context, c Case) (CaseResult, error) {
	res := CaseResult{Case: c}
	t, err := b.NewTarget(ctx, "case", c.Scenario.Seed)
	if err != nil {
		return res, err
	}
	before, err := b.Checker.Snapshot(ctx, t)
	if err != nil {
		return res, err
	}
	var fired, reported atomic.Bool
	var reporting sync.Mutex
	rule := faultproxy.Rule{Service: c.Point.Service, Action: c.Point.Action, Skip: c.Point.Nth, Times: 1,
		Report: func(faultproxy.Call) { fired.Store(true) }}
	switch c.Kind {
	case Throttled:
		rule.Fault, rule.Times = faultproxy.Throttle, 3
	case ServerError:
		rule.Fault, rule.Times = faultproxy.ServerError, 3
	case Denied:
		rule.Fault = faultproxy.AccessDenied
	case Timeout:
		rule.Fault = faultproxy.Hang
	case Crash:
		fn := c.Point.Function
		rule.Fault = faultproxy.Pass
		// Report runs before the proxy's handler returns, so the answer is still unsent.
		rule.Report = func(faultproxy.Call) {
			// The run may end before Kill returns (the host sees the death at once):
			// RunCase waits for this Report before reading fired.
			reporting.Lock()
			defer reporting.Unlock()
			reported.Store(true)
			if b.Kill(fn) > 0 {
				fired.Store(true)
			}
		}
	}
	proxy := b.Env.Proxy
	proxy.ClearRules()
	proxy.AddRule(rule) // before the primary: it must count every matching call
	if c.primary != nil {
		proxy.AddRule(ruleAt(*c.primary, faultproxy.AccessDenied, 1))
	}
	proxy.ResetCalls()
	run, err := b.Rotate(ctx, "", Input(t))
	proxy.ClearRules()
	if err != nil {
		return res, err
	}
	reporting.Lock()
	res.Status, res.Error, res.Path, res.Fired = run.Status, run.Error, run.StatePath(), fired.Load()
	reporting.Unlock()
	chk, err := b.Checker.Check(ctx, t, before, run.Outcome, invariants.Options{StaleLockHeals: true})
	if err != nil {
		return res, err
	}
	res.Violations = chk.Violations
	if got := (Outcome{Status: run.Status, Error: run.Error, Path: run.StatePath()}); c.Kind == Crash &&
		(got.Status != c.Traced.Status || got.Error != c.Traced.Error || !slices.Equal(got.Path, c.Traced.Path)) {
		// A process killed after its AWS call succeeded is retried and finds its earlier work.
		res.Violations = append(res.Violations, invariants.Violation{Invariant: "resume",
			Detail: fmt.Sprintf("the crashed step was not resumed: the run ended %s (%s), without the crash %s", got, run.Cause, c.Traced)})
	}
	if !res.Fired {
		res.Violations = append(res.Violations, invariants.Violation{Invariant: "matrix",
			Detail: fmt.Sprintf("the fault was never injected at %s (call reached: %v)", c.Point.Site, reported.Load())})
	}
	if chk.StaleLock {
		// Stale-breakable means: the next rotation breaks the lock, ends cleanly (rotated, or
		// refused for a reason a person can act on) and leaves no key that nothing holds.
		heal, err := b.Rotate(ctx, "", Input(t))
		if err != nil {
			return res, err
		}
		healed, err := b.Checker.Check(ctx, t, chk.After, heal.Outcome, invariants.Options{Strict: true, Secrets: before.Secrets(), Adopts: chk.StaleKey})
		if err != nil {
			return res, err
		}
		res.Healed = heal.Error != rotation.RotationInProgress && !healed.StaleLock && len(healed.Violations) == 0
		for _, v := range healed.Violations {
			v.Detail = fmt.Sprintf("after the next rotation (%s %s): %s", heal.Status, heal.Error, v.Detail)
			res.Violations = append(res.Violations, v)
		}
		if heal.Error == rotation.RotationInProgress || healed.StaleLock {
			res.Violations = append(res.Violations, invariants.Violation{Invariant: "lock",
				Detail: fmt.Sprintf("the run left lock %s.lock and the next rotation did not break and release it: %s %s: %s",
					t.ParameterName, heal.Status, heal.Error, heal.Cause)})
		}
	}
	// No case expects a request AWS would refuse (the proxy checks each against AWS's models).
	for _, r := range proxy.Refusals() {
		res.Violations = append(res.Violations, invariants.Violation{Invariant: "aws-model",
			Detail: fmt.Sprintf("%s %s by %s breaks %s's API model: %s", r.Service, r.Action, r.AccessKeyID, r.Service, r.Refused)})
	}
	return res, nil
}

// Summary is the matrix's one-line result.
func Summary(results []CaseResult) string {
	v := 0
	for _, r := range results {
		v += len(r.Violations)
	}
	return fmt.Sprintf("fault matrix: %d cases, %d invariant violations", len(results), v)
}

// Table counts outcomes per kind: how each kind of fault ended.
func Table(results []CaseResult) string {
	type row struct{ ok, failed, healed, bad int }
	rows := map[Kind]*row{}
	for _, r := range results {
		x := rows[r.Case.Kind]
		if x == nil {
			x = &row{}
			rows[r.Case.Kind] = x
		}
		switch {
		case len(r.Violations) > 0:
			x.bad++
		case r.Status == "SUCCEEDED":
			x.ok++
		default:
			x.failed++
		}
		if r.Healed {
			x.healed++
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-12s %9s %14s %16s %10s\n", "fault", "rotated", "failed clean", "lock→next rot.", "violating")
	for _, k := range Kinds {
		if x := rows[k]; x != nil {
			fmt.Fprintf(&sb, "%-12s %9d %14d %16d %10d\n", k, x.ok, x.failed, x.healed, x.bad)
		}
	}
	return sb.String()
}
