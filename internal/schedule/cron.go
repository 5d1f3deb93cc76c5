package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cron is an EventBridge cron expression: minutes hours day-of-month month day-of-week year.
// Day-of-week counts 1=SUN … 7=SAT, and one of day-of-month / day-of-week must be "?".
type cron struct {
	minutes, hours, months, years valueSet
	dom                           dayOfMonth
	dow                           dayOfWeek
	loc                           *time.Location
	expr                          string
}

type valueSet struct {
	lo  int
	set []bool
}

func (v valueSet) has(n int) bool { return n >= v.lo && n-v.lo < len(v.set) && v.set[n-v.lo] }

type dayOfMonth struct {
	any       bool
	days      valueSet
	last      bool // L
	lastWeek  bool // LW: the last weekday of the month
	nearestTo int  // 15W: the weekday nearest the 15th, within the month
}

type dayOfWeek struct {
	any      bool
	days     valueSet // 1..7
	lastOf   int      // 6L: the last Friday of the month
	nth, day int      // 2#1: the first Monday
}

var (
	monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
	dayNames   = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
)

func parseCron(body string, loc *time.Location) (Schedule, error) {
	f := strings.Fields(body)
	if len(f) != 6 {
		return nil, fmt.Errorf("cron needs 6 fields (minutes hours day-of-month month day-of-week year), got %d, e.g. cron(0 3 * * ? *)", len(f))
	}
	c := &cron{loc: loc, expr: "cron(" + body + ")"}
	var err error
	if c.minutes, err = parseSet(f[0], 0, 59, nil); err != nil {
		return nil, fmt.Errorf("minutes: %w", err)
	}
	if c.hours, err = parseSet(f[1], 0, 23, nil); err != nil {
		return nil, fmt.Errorf("hours: %w", err)
	}
	if c.months, err = parseSet(f[3], 1, 12, monthNames); err != nil {
		return nil, fmt.Errorf("month: %w", err)
	}
	if c.years, err = parseSet(f[5], 1970, 2199, nil); err != nil {
		return nil, fmt.Errorf("year: %w", err)
	}
	if (f[2] == "?") == (f[4] == "?") {
		return nil, fmt.Errorf("exactly one of day-of-month (%q) and day-of-week (%q) must be ?", f[2], f[4])
	}
	if c.dom, err = parseDayOfMonth(f[2]); err != nil {
		return nil, fmt.Errorf("day-of-month: %w", err)
	}
	if c.dow, err = parseDayOfWeek(f[4]); err != nil {
		return nil, fmt.Errorf("day-of-week: %w", err)
	}
	return c, nil
}

func parseDayOfMonth(s string) (dayOfMonth, error) {
	switch {
	case s == "?":
		return dayOfMonth{any: true}, nil
	case s == "L":
		return dayOfMonth{last: true}, nil
	case s == "LW":
		return dayOfMonth{lastWeek: true}, nil
	case strings.HasSuffix(s, "W"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "W"))
		if err != nil || n < 1 || n > 31 {
			return dayOfMonth{}, fmt.Errorf("%q: W needs a day 1-31 before it, e.g. 15W", s)
		}
		return dayOfMonth{nearestTo: n}, nil
	}
	days, err := parseSet(s, 1, 31, nil)
	return dayOfMonth{days: days}, err
}

func parseDayOfWeek(s string) (dayOfWeek, error) {
	switch {
	case s == "?":
		return dayOfWeek{any: true}, nil
	case strings.Contains(s, "#"):
		day, nth, _ := strings.Cut(s, "#")
		d, err1 := dayValue(day)
		n, err2 := strconv.Atoi(nth)
		if err1 != nil || err2 != nil || n < 1 || n > 5 {
			return dayOfWeek{}, fmt.Errorf("%q: want DAY#N with N 1-5, e.g. 2#1 for the first Monday", s)
		}
		return dayOfWeek{day: d, nth: n}, nil
	case len(s) > 1 && strings.HasSuffix(s, "L"):
		d, err := dayValue(strings.TrimSuffix(s, "L"))
		if err != nil {
			return dayOfWeek{}, fmt.Errorf("%q: want DAYL, e.g. 6L for the last Friday", s)
		}
		return dayOfWeek{lastOf: d}, nil
	}
	days, err := parseSet(s, 1, 7, dayNames)
	return dayOfWeek{days: days}, err
}

func dayValue(s string) (int, error) {
	if d, ok := dayNames[strings.ToUpper(s)]; ok {
		return d, nil
	}
	d, err := strconv.Atoi(s)
	if err != nil || d < 1 || d > 7 {
		return 0, fmt.Errorf("day %q: want 1-7 or SUN-SAT", s)
	}
	return d, nil
}

// parseSet reads "*", "a", "a-b", "a/step", "a-b/step", "*/step" and comma lists of them.
func parseSet(s string, lo, hi int, names map[string]int) (valueSet, error) {
	v := valueSet{lo: lo, set: make([]bool, hi-lo+1)}
	value := func(t string) (int, error) {
		if n, ok := names[strings.ToUpper(t)]; ok {
			return n, nil
		}
		n, err := strconv.Atoi(t)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("%q is not a value in %d-%d", t, lo, hi)
		}
		return n, nil
	}
	for _, part := range strings.Split(s, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return v, fmt.Errorf("%q: step must be a positive whole number", part)
			}
			step = n
		}
		from, to := lo, hi
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if from, err = value(a); err != nil {
				return v, err
			}
			if to, err = value(b); err != nil {
				return v, err
			}
			if from > to {
				return v, fmt.Errorf("%q: range runs backwards", part)
			}
		default:
			n, err := value(rng)
			if err != nil {
				return v, err
			}
			from = n
			if !hasStep {
				to = n
			}
		}
		for n := from; n <= to; n += step {
			v.set[n-lo] = true
		}
	}
	return v, nil
}

func (c *cron) String() string { return c.expr }

// Next walks forward day by day (skipping whole months and years that cannot match) and
// takes the first matching hour and minute; the year field bounds the walk at 2199.
func (c *cron) Next(t time.Time) (time.Time, bool) {
	t = t.In(c.loc).Truncate(time.Minute).Add(time.Minute)
	y, m, d := t.Date()
	hour, minute := t.Hour(), t.Minute()
	for y <= 2199 {
		if !c.years.has(y) {
			y, m, d, hour, minute = y+1, 1, 1, 0, 0
			continue
		}
		if !c.months.has(int(m)) {
			if m == 12 {
				y, m = y+1, 1
			} else {
				m++
			}
			d, hour, minute = 1, 0, 0
			continue
		}
		day := time.Date(y, m, d, 0, 0, 0, 0, c.loc)
		if day.Month() != m { // ran past the month's last day
			y, m, d, hour, minute = day.Year(), day.Month(), 1, 0, 0
			continue
		}
		if c.dayMatches(day) {
			if at, ok := c.timeInDay(y, m, d, hour, minute); ok {
				return at, true
			}
		}
		d, hour, minute = d+1, 0, 0
	}
	return time.Time{}, false
}

func (c *cron) timeInDay(y int, m time.Month, d, fromHour, fromMinute int) (time.Time, bool) {
	for h := fromHour; h < 24; h++ {
		if !c.hours.has(h) {
			continue
		}
		start := 0
		if h == fromHour {
			start = fromMinute
		}
		for mi := start; mi < 60; mi++ {
			if c.minutes.has(mi) {
				return time.Date(y, m, d, h, mi, 0, 0, c.loc), true
			}
		}
	}
	return time.Time{}, false
}

func (c *cron) dayMatches(day time.Time) bool {
	return c.domMatches(day) && c.dowMatches(day)
}

func (c *cron) domMatches(day time.Time) bool {
	dom := c.dom
	last := daysIn(day)
	switch {
	case dom.any:
		return true
	case dom.last:
		return day.Day() == last
	case dom.lastWeek:
		return day.Day() == nearestWeekday(day, last)
	case dom.nearestTo > 0:
		target := min(dom.nearestTo, last)
		return day.Day() == nearestWeekday(day, target)
	}
	return dom.days.has(day.Day())
}

func (c *cron) dowMatches(day time.Time) bool {
	dow := c.dow
	wd := int(day.Weekday()) + 1 // EventBridge: 1 = Sunday
	switch {
	case dow.any:
		return true
	case dow.lastOf > 0:
		return wd == dow.lastOf && day.Day()+7 > daysIn(day)
	case dow.nth > 0:
		return wd == dow.day && (day.Day()-1)/7+1 == dow.nth
	}
	return dow.days.has(wd)
}

func daysIn(day time.Time) int {
	return time.Date(day.Year(), day.Month()+1, 0, 0, 0, 0, 0, day.Location()).Day()
}

// nearestWeekday is the weekday nearest to day target of day's month, never crossing into
// another month (Quartz's W rule, which EventBridge follows).
func nearestWeekday(day time.Time, target int) int {
	t := time.Date(day.Year(), day.Month(), target, 0, 0, 0, 0, day.Location())
	switch t.Weekday() {
	case time.Saturday:
		if target == 1 {
			return 3
		}
		return target - 1
	case time.Sunday:
		if target == daysIn(day) {
			return target - 2
		}
		return target + 1
	}
	return target
}
