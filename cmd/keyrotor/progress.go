package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// progress shows an execution's states as they run.
type progress interface {
	update(t *timeline)
}

// isTerminal says whether w is a terminal, not a pipe, a file or a buffer.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newProgress(w io.Writer) progress {
	if isTerminal(w) {
		return &screenProgress{w: w}
	}
	return &lineProgress{w: w}
}

// runColumns are one state's columns: name, type, duration, and the retries with the errors
// retried ("" without).
func runColumns(r *stateRun, now time.Time) (name, typ, duration, retries string) {
	d := r.Seconds
	if !r.done() {
		d = now.Sub(r.Entered).Seconds()
	}
	if r.Retries > 0 {
		retries = fmt.Sprintf("retries %d", r.Retries)
	}
	if len(r.Errors) > 0 {
		retries = strings.TrimSpace(retries + " (" + countErrors(r.Errors) + ")")
	}
	return r.Name, r.Type, fmt.Sprintf("%.2fs", d), retries
}

// describeRun is one state as a line of fixed-width columns: the live display prints a state
// before the later states' widths are known, so text/tabwriter cannot align it.
func describeRun(r *stateRun, now time.Time) string {
	name, typ, d, retries := runColumns(r, now)
	line := fmt.Sprintf("%-22s %-8s %8s", name, typ, d)
	if retries != "" {
		line += "  " + retries
	}
	return line
}

// countErrors writes ["A","A","B"] as "A ×2, B".
func countErrors(errs []string) string {
	var parts []string
	for i := 0; i < len(errs); {
		j := i
		for j < len(errs) && errs[j] == errs[i] {
			j++
		}
		if n := j - i; n > 1 {
			parts = append(parts, fmt.Sprintf("%s ×%d", errs[i], n))
		} else {
			parts = append(parts, errs[i])
		}
		i = j
	}
	return strings.Join(parts, ", ")
}

// lineProgress prints one line per state once the state is done (for logs and pipes).
type lineProgress struct {
	w       io.Writer
	printed int
}

func (p *lineProgress) update(t *timeline) {
	for p.printed < len(t.Runs) && t.Runs[p.printed].done() {
		fmt.Fprintln(p.w, describeRun(t.Runs[p.printed], time.Now()))
		p.printed++
	}
}

// screenProgress redraws the list of states in place on a terminal, the running one with a
// spinner and its time so far.
type screenProgress struct {
	w     io.Writer
	lines int
	tick  int
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func (p *screenProgress) update(t *timeline) {
	var b strings.Builder
	if p.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", p.lines)
	}
	now := time.Now()
	p.tick++
	for _, r := range t.Runs {
		mark := "✔"
		switch {
		case !r.done():
			mark = spinner[p.tick%len(spinner)]
		case len(r.Errors) > r.Retries:
			mark = "✘"
		}
		fmt.Fprintf(&b, "%s %s\n", mark, describeRun(r, now))
	}
	p.lines = len(t.Runs)
	fmt.Fprint(p.w, b.String())
}
