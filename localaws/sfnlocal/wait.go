package sfnlocal

import (
	"context"
	"fmt"
	"time"
)

// maxWaitSeconds is the largest Seconds a Wait state takes. Waits longer than a year end with
// the execution at MaxExecutionDuration.
const maxWaitSeconds = 99999999

// runWait: a Wait state sleeps (in the run's clock) for Seconds[Path] or until
// Timestamp[Path], then passes its input on. A stop while it sleeps ends it (the executor
// records WaitStateAborted).
func (r *runner) runWait(ctx context.Context, st *state, raw any, ctxObj map[string]any) (stateResult, error) {
	eff, err := r.inputPath(st, raw, ctxObj)
	if err != nil {
		return stateResult{}, err
	}
	var d time.Duration
	switch {
	case st.hasWaitSeconds:
		d = time.Duration(st.waitSeconds) * time.Second
	case st.hasWaitTimestamp:
		d = st.waitTimestamp.Sub(r.clock.Now())
	case st.waitSecondsPath != nil:
		v, ok := st.waitSecondsPath.get(eff, ctxObj)
		f, isNum := v.(float64)
		// Seconds is "an integer value from 0 to 99999999" (the Wait state's page); a path
		// must give one too.
		if !ok || !isNum || !isInteger(f) || f < 0 || f > maxWaitSeconds {
			return stateResult{}, &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("The SecondsPath parameter '%s' does not reference an integer from 0 to %d in the input '%s'", st.waitSecondsPath.raw, maxWaitSeconds, encodeJSON(eff))}
		}
		d = time.Duration(f) * time.Second
	case st.waitTimestampPath != nil:
		v, ok := st.waitTimestampPath.get(eff, ctxObj)
		s, _ := v.(string)
		t, perr := parseTimestamp(s)
		if !ok || perr != nil {
			return stateResult{}, &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("The TimestampPath parameter '%s' does not reference a valid ISO-8601 timestamp in the input '%s'", st.waitTimestampPath.raw, encodeJSON(eff))}
		}
		d = t.Sub(r.clock.Now())
	}
	if d > 0 {
		if err := r.clock.Sleep(ctx, d); err != nil {
			return stateResult{}, err
		}
	} else if err := ctx.Err(); err != nil {
		return stateResult{}, err
	}
	out, err := r.outputPath(st, eff, ctxObj)
	return stateResult{out: out}, err
}
