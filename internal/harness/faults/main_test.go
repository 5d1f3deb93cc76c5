package faults

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/harness/invariants"
)

// The package's tests share engines (each starts its own moto) and so never run in parallel.
var benches struct {
	sync.Mutex
	byTimeout map[time.Duration]*Bench
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, b := range benches.byTimeout {
		// No test here expects a request AWS would refuse: the proxy checks each against AWS's
		// API models, and one it refused is a defect even if the run recovered.
		if _, refused := b.Env.Proxy.ModelCounts(); refused > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: %d requests broke AWS's API models (the service would refuse them):\n", refused)
			for _, c := range b.Env.Proxy.Refusals() {
				fmt.Fprintf(os.Stderr, "  %s %s: %s\n", c.Service, c.Action, c.Refused)
			}
			code = 1
		}
		_ = b.Close()
	}
	os.Exit(code)
}

// bench returns the shared engine whose functions time out after timeout.
func bench(t *testing.T, timeout time.Duration) *Bench {
	t.Helper()
	benches.Lock()
	defer benches.Unlock()
	if b := benches.byTimeout[timeout]; b != nil {
		return b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := NewBench(ctx, Options{FunctionTimeout: timeout})
	if err != nil {
		t.Fatalf("start the local engine: %v", err)
	}
	if benches.byTimeout == nil {
		benches.byTimeout = map[time.Duration]*Bench{}
	}
	benches.byTimeout[timeout] = b
	return b
}

// seededTarget seeds a fresh managed user named after prefix and snapshots its state before
// the test acts on it.
func seededTarget(ctx context.Context, t *testing.T, b *Bench, prefix string) (invariants.Target, invariants.State) {
	t.Helper()
	tg, err := b.NewTarget(ctx, prefix, Seed{})
	if err != nil {
		t.Fatal(err)
	}
	before, err := b.Checker.Snapshot(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	return tg, before
}

// changesNothing runs do and checks that the account (users, keys, parameters, locks) is as it
// was before; what names do in the error.
func changesNothing(ctx context.Context, t *testing.T, b *Bench, what string, do func()) {
	t.Helper()
	before, err := b.World(ctx)
	if err != nil {
		t.Fatal(err)
	}
	do()
	after, err := b.World(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := before.Diff(after); d != "" {
		t.Errorf("%s changed the account: %s", what, d)
	}
}

// rotateAndCheck runs one rotation of tg's user to its end and checks the invariants against
// before, the state the test snapshotted.
func rotateAndCheck(ctx context.Context, t *testing.T, b *Bench, tg invariants.Target, before invariants.State, opts invariants.Options) (Run, invariants.Result) {
	t.Helper()
	run, err := b.Rotate(ctx, "", Input(tg))
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Checker.Check(ctx, tg, before, run.Outcome, opts)
	if err != nil {
		t.Fatal(err)
	}
	return run, res
}

// withoutFaults clears the proxy's fault rules now and again when the test ends, so that no
// rule outlives the test that set it.
func withoutFaults(t *testing.T, b *Bench) {
	b.Env.Proxy.ClearRules()
	t.Cleanup(b.Env.Proxy.ClearRules)
}

// generalTimeout is the step functions' timeout outside the fault matrix.
const generalTimeout = 20 * time.Second

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func describe(vs []invariants.Violation) string {
	s := ""
	for _, v := range vs {
		s += fmt.Sprintf("\n  %s", v)
	}
	return s
}
