package main

import (
	"encoding/json"
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

// newProgress shows states on w; waits are the definition's Wait states (nil: unknown), so
// that a wait says how long it is and when it ends.
func newProgress(w io.Writer, waits map[string]waitSpec) progress {
	if isTerminal(w) {
		return &screenProgress{w: w, waits: waits}
	}
	return &lineProgress{w: w, waits: waits}
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

// waitNote says what a running Wait state waits for: its length, its end, and for the
// grace extension why it happens.
func waitNote(r *stateRun, waits map[string]waitSpec) string {
	spec, ok := waits[r.Name]
	if !ok {
		return ""
	}
	secs, ok := spec.seconds(r.input)
	if !ok {
		return ""
	}
	end := r.Entered.Add(time.Duration(secs * float64(time.Second)))
	note := fmt.Sprintf("waiting %s, until %s", time.Duration(secs*float64(time.Second)), end.UTC().Format("15:04:05Z"))
	if d := end.Sub(time.Now()); d >= 48*time.Hour {
		note = fmt.Sprintf("waiting %s, until %s", time.Duration(secs*float64(time.Second)), end.UTC().Format(time.RFC3339))
	}
	var doc struct{ Extensions int }
	if json.Unmarshal([]byte(r.input), &doc) == nil && doc.Extensions > 0 {
		note += fmt.Sprintf(": an old key was used during the grace period, so its deactivation waits (extension %d; after the last, it is deactivated anyway)", doc.Extensions)
	}
	return note
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

// lineProgress prints one line per state once the state is done, and a line when a Wait
// starts with its length and end (for logs and pipes: nothing is redrawn).
type lineProgress struct {
	w         io.Writer
	waits     map[string]waitSpec
	printed   int
	announced int // states whose start was announced (Waits), by index+1
}

func (p *lineProgress) update(t *timeline) {
	for p.printed < len(t.Runs) && t.Runs[p.printed].done() {
		fmt.Fprintln(p.w, describeRun(t.Runs[p.printed], time.Now()))
		p.printed++
	}
	if p.printed < len(t.Runs) && p.announced <= p.printed {
		r := t.Runs[p.printed]
		if note := waitNote(r, p.waits); note != "" {
			fmt.Fprintf(p.w, "%-22s %-8s %8s  %s\n", r.Name, r.Type, "…", note)
		}
		p.announced = p.printed + 1
	}
}

// screenProgress prints each state once it is done and redraws only the running state's
// line in place (a redrawn block taller than the terminal would leave copies in its
// scrollback).
type screenProgress struct {
	w       io.Writer
	waits   map[string]waitSpec
	printed int
	status  bool
	tick    int
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// mark is a done state's sign: ✘ for a Fail state or a state whose last attempt failed.
func mark(r *stateRun) string {
	if r.Type == "Fail" || len(r.Errors) > r.Retries {
		return "✘"
	}
	return "✔"
}

func (p *screenProgress) update(t *timeline) {
	var b strings.Builder
	if p.status {
		b.WriteString("\r\x1b[K")
		p.status = false
	}
	now := time.Now()
	for p.printed < len(t.Runs) && t.Runs[p.printed].done() {
		r := t.Runs[p.printed]
		fmt.Fprintf(&b, "%s %s\n", mark(r), describeRun(r, now))
		p.printed++
	}
	if p.printed < len(t.Runs) {
		p.tick++
		r := t.Runs[p.printed]
		line := spinner[p.tick%len(spinner)] + " " + describeRun(r, now)
		if note := waitNote(r, p.waits); note != "" {
			line += "  " + note
		}
		// One screen line: a wrapped status line could not be redrawn with \r.
		if f, ok := p.w.(*os.File); ok {
			if width, _, err := term.GetSize(int(f.Fd())); err == nil && width > 1 && len([]rune(line)) >= width {
				line = string([]rune(line)[:width-2]) + "…"
			}
		}
		b.WriteString(line)
		p.status = true
	}
	fmt.Fprint(p.w, b.String())
}
