package schedule

import (
	"strings"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNextFiresAtTheExpectedTimes(t *testing.T) {
	tests := []struct {
		name, expr, from string
		want             []string // successive fire times
	}{
		{"rate of minutes counts from the start", "rate(5 minutes)", "2026-11-24T10:00:30Z",
			[]string{"2026-11-24T10:05:30Z", "2026-11-24T10:10:30Z"}},
		{"rate of one day", "rate(1 day)", "2026-11-24T10:00:00Z", []string{"2026-11-25T10:00:00Z"}},
		{"daily cron at 03:00", "cron(0 3 * * ? *)", "2026-11-24T10:00:00Z",
			[]string{"2026-11-25T03:00:00Z", "2026-11-26T03:00:00Z"}},
		{"every 15 minutes", "cron(0/15 * * * ? *)", "2026-11-24T10:07:00Z",
			[]string{"2026-11-24T10:15:00Z", "2026-11-24T10:30:00Z", "2026-11-24T10:45:00Z", "2026-11-24T11:00:00Z"}},
		{"weekdays by name", "cron(30 9 ? * MON-FRI *)", "2026-11-27T10:00:00Z", // a Friday
			[]string{"2026-11-30T09:30:00Z", "2026-12-01T09:30:00Z"}},
		{"last day of month", "cron(0 0 L * ? *)", "2026-02-10T00:00:00Z",
			[]string{"2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z"}},
		{"first Monday", "cron(0 8 ? * 2#1 *)", "2026-11-24T00:00:00Z",
			[]string{"2026-12-07T08:00:00Z", "2027-01-04T08:00:00Z"}},
		{"last Friday", "cron(0 8 ? * 6L *)", "2026-11-01T00:00:00Z", []string{"2026-11-27T08:00:00Z"}},
		{"nearest weekday to the 1st when it is a Saturday", "cron(0 8 1W * ? *)", "2026-07-15T00:00:00Z",
			[]string{"2026-08-03T08:00:00Z"}}, // 2026-08-01 is a Saturday
		{"month names and a year list", "cron(0 0 1 JAN,JUL ? 2027,2029)", "2026-11-24T00:00:00Z",
			[]string{"2027-01-01T00:00:00Z", "2027-07-01T00:00:00Z", "2029-01-01T00:00:00Z"}},
		{"one time", "at(2026-12-01T03:00:00)", "2026-11-24T00:00:00Z", []string{"2026-12-01T03:00:00Z"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse(tc.expr, nil)
			if err != nil {
				t.Fatal(err)
			}
			at := mustTime(t, tc.from)
			for i, w := range tc.want {
				next, ok := s.Next(at)
				if !ok {
					t.Fatalf("fire %d: no next time, want %s", i, w)
				}
				if want := mustTime(t, w); !next.Equal(want) {
					t.Fatalf("fire %d: got %s, want %s", i, next.UTC().Format(time.RFC3339), w)
				}
				at = next
			}
		})
	}
}

func TestNextReportsNoMoreFireTimes(t *testing.T) {
	for _, expr := range []string{"at(2020-01-01T00:00:00)", "cron(0 0 1 1 ? 2020)"} {
		s, err := Parse(expr, nil)
		if err != nil {
			t.Fatal(err)
		}
		if next, ok := s.Next(mustTime(t, "2026-11-24T00:00:00Z")); ok {
			t.Errorf("%s: got %s, want no fire time", expr, next)
		}
	}
}

func TestCronHonoursTheScheduleTimezone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	s, err := Parse("cron(0 3 * * ? *)", berlin)
	if err != nil {
		t.Fatal(err)
	}
	next, _ := s.Next(mustTime(t, "2026-11-24T10:00:00Z"))
	if want := mustTime(t, "2026-11-25T02:00:00Z"); !next.Equal(want) {
		t.Fatalf("got %s, want %s (03:00 CET)", next.UTC(), want)
	}
}

func TestParseRejectsBadExpressionsWithAHint(t *testing.T) {
	tests := []struct{ expr, hint string }{
		{"every day", "want rate(…), cron(…) or at(…)"},
		{"rate(0 days)", "positive whole number"},
		{"rate(1 days)", "write rate(1 day)"},
		{"rate(2 day)", "write rate(2 days)"},
		{"rate(3 weeks)", "minute(s), hour(s) or day(s)"},
		{"cron(0 3 * * *)", "6 fields"},
		{"cron(0 3 * * * *)", "exactly one of day-of-month"},
		{"cron(0 3 ? * ? *)", "exactly one of day-of-month"},
		{"cron(61 3 * * ? *)", "minutes"},
		{"cron(0 3 * * ? 1960)", "year"},
		{"cron(0 3 ? * 9#1 *)", "DAY#N"},
		{"at(tomorrow)", "yyyy-mm-ddThh:mm:ss"},
		{"hourly(1)", "unknown kind"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := Parse(tc.expr, nil)
			if err == nil || !strings.Contains(err.Error(), tc.hint) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.hint)
			}
		})
	}
}
