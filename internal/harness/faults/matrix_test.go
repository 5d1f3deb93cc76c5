package faults

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// matrixTimeout is the step functions' timeout in the full matrix: a hung call costs this much.
const matrixTimeout = 3 * time.Second

// TestFaultMatrix injects every kind of fault at every AWS call site of every function (found
// by recording runs of each scenario through the proxy) and checks the invariants after each
// rotation. `make test` runs a reduced matrix (AccessDenied and a crash at every site);
// KEYROTOR_FAULTS=full (`make faults`) runs every kind.
func TestFaultMatrix(t *testing.T) {
	full := os.Getenv("KEYROTOR_FAULTS") == "full"
	kinds, timeout := []Kind{Denied, Crash}, generalTimeout
	if full {
		// A hung call lasts until the step's deadline: short steps keep the timeouts cheap.
		kinds, timeout = Kinds, matrixTimeout
	}
	b := bench(t, timeout)
	ctx := ctxFor(t, 40*time.Minute)
	cases, sites, err := b.Plan(ctx, kinds)
	if err != nil {
		t.Fatal(err)
	}
	SortSites(sites)
	var results []CaseResult
	start := time.Now()
	for _, c := range cases {
		r, err := b.RunCase(ctx, c)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		results = append(results, r)
		if len(r.Violations) > 0 {
			t.Errorf("%s → %s %s %v%s", c, r.Status, r.Error, r.Path, describe(r.Violations))
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "call sites covered (%d):\n", len(sites))
	for _, s := range sites {
		fmt.Fprintf(&sb, "  %s\n", s)
	}
	sb.WriteString(Table(results))
	fmt.Fprintf(&sb, "matrix time: %s\n", time.Since(start).Round(time.Second))
	sb.WriteString(Summary(results) + "\n")
	fmt.Print(sb.String())
	if len(results) < len(sites)*len(kinds) {
		t.Errorf("ran %d cases for %d sites × %d kinds", len(results), len(sites), len(kinds))
	}
}
