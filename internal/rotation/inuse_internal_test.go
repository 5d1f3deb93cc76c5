package rotation

import (
	"testing"
	"time"
)

// iamLastUsed models IAM's record of a key used at each of uses: only the first use of a
// 15-minute span is recorded, and a record appears delay after the use (AWS gives no figure:
// the test takes up to 5 minutes). It returns the last use visible at now.
func iamLastUsed(uses []time.Time, delay time.Duration, now time.Time) *time.Time {
	var recorded, visible *time.Time
	for _, u := range uses {
		if recorded == nil || u.Sub(*recorded) >= LastUsedGranularity {
			r := u
			recorded = &r
			if !u.Add(delay).After(now) {
				visible = &r
			}
		}
	}
	return visible
}

func every(from, to time.Time, period time.Duration) []time.Time {
	var out []time.Time
	for t := from; !t.After(to); t = t.Add(period) {
		out = append(out, t)
	}
	return out
}

// A key used every few minutes up to the deactivation check is judged in use, whatever the
// phase of IAM's 15-minute span, the recording delay and the grace; the old rule (a recorded
// use after verification) judged it unused whenever the grace was shorter than the span.
func TestKeyUsedEveryFewMinutesDuringGraceIsNeverJudgedUnused(t *testing.T) {
	verifiedAt := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	oldRuleMissed := 0
	for _, grace := range []time.Duration{0, time.Minute, 5 * time.Minute, 20 * time.Minute, time.Hour} {
		for _, period := range []time.Duration{time.Minute, 3 * time.Minute, 7 * time.Minute, 10 * time.Minute} {
			for _, delay := range []time.Duration{0, time.Minute, 5 * time.Minute} {
				for phase := time.Duration(0); phase < LastUsedGranularity+period; phase += time.Minute {
					now := verifiedAt.Add(grace)
					uses := every(verifiedAt.Add(-2*time.Hour).Add(phase), now, period)
					last := iamLastUsed(uses, delay, now)
					if !keyStillInUse(last, verifiedAt, now, InUseWindow) {
						t.Fatalf("grace %v, used every %v, record delay %v, phase %v: last recorded use %v judged unused at %v",
							grace, period, delay, phase, last, now)
					}
					if last == nil || !last.After(verifiedAt) {
						oldRuleMissed++
					}
				}
			}
		}
	}
	if oldRuleMissed == 0 {
		t.Error("the rule before this one (a recorded use after verification) never missed a use here: the cases test nothing")
	}
}

// A key whose consumers moved to the new key at verification is judged unused once its last
// recorded use is older than the window, so the engine's default grace floor never extends a
// rotation for nothing.
func TestKeyLeftAtVerificationIsUnusedAfterTheDefaultGraceFloor(t *testing.T) {
	verifiedAt := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	floor := time.Duration(DefaultMinGraceSeconds) * time.Second
	tests := []struct {
		name     string
		lastUsed *time.Time
		now      time.Time
		want     bool
	}{
		{"never used", nil, verifiedAt.Add(floor), false},
		{"last used just before verification, checked after the floor", ptrTime(verifiedAt.Add(-time.Second)), verifiedAt.Add(floor), false},
		{"last used just before verification, checked after 5 minutes", ptrTime(verifiedAt.Add(-time.Second)), verifiedAt.Add(5 * time.Minute), true},
		{"used after verification, long ago", ptrTime(verifiedAt.Add(time.Minute)), verifiedAt.Add(24 * time.Hour), true},
	}
	for _, tt := range tests {
		if got := keyStillInUse(tt.lastUsed, verifiedAt, tt.now, InUseWindow); got != tt.want {
			t.Errorf("%s: in use %v, want %v", tt.name, got, tt.want)
		}
	}
	if floor < InUseWindow {
		t.Errorf("the default grace floor %v is shorter than the in-use window %v: every rotation's first check would extend", floor, InUseWindow)
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

// An engine whose grace floor is below InUseWindow (the local engine's 0) cannot wait for
// IAM's record: its window shrinks to the floor, so only uses after verification count there;
// the default floor keeps the whole window.
func TestInUseWindowFollowsTheEnginesGraceFloor(t *testing.T) {
	for _, tt := range []struct {
		floor int
		want  time.Duration
	}{
		{DefaultMinGraceSeconds, InUseWindow},
		{2 * DefaultMinGraceSeconds, InUseWindow},
		{600, 10 * time.Minute},
		{0, 0},
	} {
		s := &Steps{Config: Config{MinGraceSeconds: tt.floor}}
		if got := s.inUseWindow(); got != tt.want {
			t.Errorf("grace floor %d s: window %s, want %s", tt.floor, got, tt.want)
		}
	}
	verifiedAt := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	usedBefore := verifiedAt.Add(-time.Minute)
	if keyStillInUse(&usedBefore, verifiedAt, verifiedAt.Add(time.Minute), 0) {
		t.Error("with a window of 0, a use recorded before verification counts as in use")
	}
	if !keyStillInUse(&usedBefore, verifiedAt, verifiedAt.Add(time.Minute), InUseWindow) {
		t.Error("with the default window, a use recorded a minute before verification does not count")
	}
}
