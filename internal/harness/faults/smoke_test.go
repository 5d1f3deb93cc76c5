package faults

import (
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/harness/invariants"
)

func TestCleanRotationKeepsEveryInvariant(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, time.Minute)
	tg, before := seededTarget(ctx, t, b, "clean")
	start := time.Now()
	run, err := b.Rotate(ctx, "", Input(tg))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rotation took %s: %s %v", time.Since(start), run.Status, run.StatePath())
	res, err := b.Checker.Check(ctx, tg, before, run.Outcome, invariants.Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != "SUCCEEDED" || len(res.Violations) > 0 {
		t.Fatalf("status %s (%s: %s), violations:%s", run.Status, run.Error, run.Cause, describe(res.Violations))
	}
	if len(res.After.Keys) != 1 {
		t.Errorf("keys after rotation = %v, want only the new key", res.After.Keys)
	}
	t.Logf("calls: %d", len(b.Env.Proxy.Calls()))
}
