package rotation

import "time"

// IAM records an access key's last use at most once per 15-minute span: "When an access key is
// used more than once in a 15-minute span, only the first use is recorded" (IAM User Guide,
// "Generate credential reports", access_key_N_last_used_date:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_getting-report.html), and
// GetAccessKeyLastUsed answers from the same record. So a key used every few minutes can show a
// last use up to 15 minutes (plus its period of use, plus a recording delay AWS gives no figure
// for) in the past while it is being used right now.
const (
	// LastUsedGranularity is the span within which IAM records only the first use.
	LastUsedGranularity = 15 * time.Minute
	// InUseWindow is how recent a recorded last use must be for the key to count as possibly
	// still in use: the granularity, plus 10 minutes for a consumer that uses the key every few
	// minutes, plus 5 for the record to appear. A key used at least every 10 minutes always has
	// a record younger than this.
	InUseWindow = LastUsedGranularity + 15*time.Minute
)

// keyStillInUse decides, at now, whether an old key whose last recorded use is lastUsed (nil:
// never used) may still be in use by a consumer, after the new key was verified at verifiedAt.
// It is in use when a use after verification is recorded, or when its last recorded use is so
// recent (younger than window) that later uses may not be recorded yet: with window InUseWindow
// a key used every few minutes during grace is never judged unused, however short the grace.
func keyStillInUse(lastUsed *time.Time, verifiedAt, now time.Time, window time.Duration) bool {
	if lastUsed == nil || lastUsed.IsZero() {
		return false
	}
	return lastUsed.After(verifiedAt) || now.Sub(*lastUsed) < window
}

// inUseWindow is this engine's window for keyStillInUse: InUseWindow, unless the engine's grace
// floor (MinGraceSeconds, whose default is InUseWindow) was set lower — an engine that lets
// rotations retire sooner than IAM can show a use (the local engine's floor of 0 among them)
// counts only the uses recorded after verification, as it cannot wait for the others.
func (s *Steps) inUseWindow() time.Duration {
	return min(InUseWindow, time.Duration(s.Config.MinGraceSeconds)*time.Second)
}
