package faults

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// TestEveryGrantedActionIsNeeded takes each action in turn out of each step function's role
// (moto evaluates the role's policy on every call) and shows the rotation then fails cleanly
// with AccessDenied naming the action in the Cause — and that it passes with the full policy.
func TestEveryGrantedActionIsNeeded(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 10*time.Minute)

	for _, setup := range []string{SetupRotate, SetupInactiveKey, SetupStaleLock, SetupNewParamFails} {
		d, err := b.Deny(ctx, "", "", setup)
		if err != nil {
			t.Fatal(err)
		}
		want := "SUCCEEDED"
		if setup == SetupNewParamFails {
			want = "FAILED"
		}
		if d.Status != want || len(d.Violations) > 0 {
			t.Errorf("full policy, %s: %s %s %s%s; want %s", setup, d.Status, d.Error, d.Cause, describe(d.Violations), want)
		}
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "%-14s %-26s %-16s %-10s %-13s %s\n", "function", "action removed", "situation", "status", "error", "cause")
	for _, step := range rotation.Functions() {
		fn := step.Name
		actions, err := b.GrantedActions(fn)
		if err != nil {
			t.Fatal(err)
		}
		for _, action := range actions {
			if why := NotEnforced(fn, action); why != "" {
				fmt.Fprintf(&sb, "%-14s %-26s %-16s %-10s %-13s %s\n", fn, action, "-", "-", "-", "not enforceable locally: "+why)
				continue
			}
			setup := DenialSetups[fn+" "+action]
			if setup == "" {
				setup = SetupRotate
			}
			d, err := b.Deny(ctx, fn, action, setup)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&sb, "%-14s %-26s %-16s %-10s %-13s %s\n", fn, action, setup, d.Status, d.Error, CauseExcerpt(d.Cause, action))
			if d.Status != "FAILED" || d.Error != "AccessDenied" || !d.CauseNamesAction() || len(d.Violations) > 0 {
				t.Errorf("%s without %s (%s): %s %s, Cause %q%s; want FAILED AccessDenied naming %s, invariants kept",
					fn, action, setup, d.Status, d.Error, d.Cause, describe(d.Violations), action)
			}
		}
	}
	fmt.Print(sb.String())
}
