// Package schedule parses EventBridge Scheduler schedule expressions — rate(…), cron(…) and
// at(…) — and computes their fire times, so the local engine can run rotations on the same
// expression the managed-key module deploys.
package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule yields the fire times of one expression.
type Schedule interface {
	// Next returns the first fire time strictly after t, and false when there is none
	// (a one-time schedule that has passed, or a cron expression with no future match).
	Next(t time.Time) (time.Time, bool)
	String() string
}

// Parse reads an EventBridge Scheduler expression. Times are evaluated in loc (UTC when nil),
// the schedule's ScheduleExpressionTimezone.
func Parse(expr string, loc *time.Location) (Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	expr = strings.TrimSpace(expr)
	open := strings.IndexByte(expr, '(')
	if open < 0 || !strings.HasSuffix(expr, ")") {
		return nil, fmt.Errorf("schedule %q: want rate(…), cron(…) or at(…), e.g. rate(1 day) or cron(0 3 * * ? *)", expr)
	}
	kind, body := expr[:open], strings.TrimSpace(expr[open+1:len(expr)-1])
	var (
		s   Schedule
		err error
	)
	switch kind {
	case "rate":
		s, err = parseRate(body)
	case "cron":
		s, err = parseCron(body, loc)
	case "at":
		s, err = parseAt(body, loc)
	default:
		err = fmt.Errorf("unknown kind %q: want rate, cron or at", kind)
	}
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", expr, err)
	}
	return s, nil
}

type rate struct {
	every time.Duration
	expr  string
}

func parseRate(body string) (Schedule, error) {
	fields := strings.Fields(body)
	if len(fields) != 2 {
		return nil, fmt.Errorf("rate needs a value and a unit, e.g. rate(12 hours)")
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("rate value %q must be a positive whole number", fields[0])
	}
	units := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}
	unit := fields[1]
	base := strings.TrimSuffix(unit, "s")
	d, ok := units[base]
	if !ok {
		return nil, fmt.Errorf("rate unit %q: want minute(s), hour(s) or day(s)", unit)
	}
	// EventBridge insists on "1 day" but "2 days"; accepting both would let an expression
	// through here that AWS then refuses at apply time.
	if (n == 1) != (unit == base) {
		want := base
		if n != 1 {
			want = base + "s"
		}
		return nil, fmt.Errorf("rate(%d %s): write rate(%d %s)", n, unit, n, want)
	}
	return rate{every: time.Duration(n) * d, expr: "rate(" + body + ")"}, nil
}

// Next counts from t: a rate schedule fires one period after it is created or last fired.
func (r rate) Next(t time.Time) (time.Time, bool) { return t.Add(r.every), true }
func (r rate) String() string                     { return r.expr }

type at struct {
	when time.Time
	expr string
}

func parseAt(body string, loc *time.Location) (Schedule, error) {
	when, err := time.ParseInLocation("2006-01-02T15:04:05", body, loc)
	if err != nil {
		return nil, fmt.Errorf("at(%s): want yyyy-mm-ddThh:mm:ss, e.g. at(2026-12-01T03:00:00)", body)
	}
	return at{when: when, expr: "at(" + body + ")"}, nil
}

func (a at) Next(t time.Time) (time.Time, bool) {
	if a.when.After(t) {
		return a.when, true
	}
	return time.Time{}, false
}
func (a at) String() string { return a.expr }
