package sfnlocal

import (
	"math"
	"time"
)

// pickRetrier returns the first retrier whose ErrorEquals matches the error. Only that
// retrier applies: when its attempts are spent the error goes to Catch.
func pickRetrier(rs []*retrier, name string) (int, bool) {
	for i, rt := range rs {
		if matchesError(rt.errorEquals, name) {
			return i, true
		}
	}
	return 0, false
}

// retryDelay is IntervalSeconds × BackoffRate^attempt, capped by MaxDelaySeconds; with
// JitterStrategy FULL a uniformly random duration in [0, that delay].
func (r *runner) retryDelay(rt *retrier, attempt int) time.Duration {
	secs := rt.interval * math.Pow(rt.backoffRate, float64(attempt))
	if rt.maxDelay > 0 && secs > rt.maxDelay {
		secs = rt.maxDelay
	}
	if secs > 99999999 {
		secs = 99999999
	}
	if rt.jitterFull {
		secs *= r.jitterFraction()
	}
	return time.Duration(secs * float64(time.Second))
}
