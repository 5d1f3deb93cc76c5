package sfnlocal

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// The executor: it runs a scope's states one after another, and each state through the same
// steps, whatever its type — <Type>StateEntered, attempts of the state (its type's file does
// the work: pass.go, task.go, choice.go, wait.go, succeed.go, fail.go, parallel.go, map.go),
// Retry between attempts, Catch when the retriers give up, <Type>StateExited. ASL allows
// Retry and Catch on Task, Parallel and Map only (parse.go refuses them elsewhere), so for
// the other types the two lists are empty and an error ends the state.

// stateResult is what a state hands the executor: its output, the output's JSON text when
// already at hand ("" if not), and the next state ("" for the state's own Next or End).
type stateResult struct {
	out  any
	text string
	next string
}

// runScope runs states from sc.startAt until one ends the scope.
func (r *runner) runScope(ctx context.Context, th *thread, sc *scope, input any) (any, error) {
	res, err := r.runScopeText(ctx, th, sc, input, "")
	return res.out, err
}

// runScopeText is runScope that takes the input's JSON text (if known) and also returns the
// output's.
func (r *runner) runScopeText(ctx context.Context, th *thread, sc *scope, input any, inputText string) (stateResult, error) {
	name, cur, curText := sc.startAt, input, inputText
	for {
		if err := ctx.Err(); err != nil {
			return stateResult{}, err
		}
		res, err := r.runState(ctx, th, sc.states[name], cur, curText)
		if err != nil {
			return stateResult{}, err
		}
		if res.next == "" {
			return res, nil
		}
		// The output text recorded on exit is the next state's input text.
		name, cur, curText = res.next, res.out, res.text
	}
}

// runBranch runs a branch or iteration on its own goroutine; a panic there fails it with
// States.Runtime rather than taking the process down.
func (r *runner) runBranch(ctx context.Context, th *thread, sc *scope, input any) (out any, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("the local engine failed: %v", p)}
		}
	}()
	return r.runScope(ctx, th, sc, input)
}

// runState runs one state with its Retry and Catch and returns its output (with its JSON
// text) and the next state ("" when it ends the scope). rawText is raw's JSON text when the
// caller has it.
func (r *runner) runState(ctx context.Context, th *thread, st *state, raw any, rawText string) (stateResult, error) {
	entered := r.clock.Now()
	th.enter(st.name)
	if rawText == "" {
		rawText = encodeJSON(raw)
	}
	th.stateEntered(entered, st, rawText)
	var attempts []int // per retrier
	if len(st.retry) > 0 {
		attempts = make([]int, len(st.retry))
	}
	retryCount := 0
	for {
		res, err := r.attempt(ctx, th, st, raw, rawText, r.contextFor(st, entered, retryCount))
		if err == nil {
			if st.passthrough {
				res.text = rawText // the output is the input, unchanged
			}
			if res.next == "" {
				res.next = st.next
			}
			if res.text, err = r.exit(th, st, res.out, res.text); err != nil {
				return stateResult{}, err
			}
			return res, nil
		}
		var se *stateError
		if !errors.As(err, &se) {
			r.recordAborted(th, st)
			return stateResult{}, err // cancelled
		}
		if se.terminal() {
			th.flushFailedEvent()
			return stateResult{}, se
		}
		if i, ok := pickRetrier(st.retry, se.Name); ok && attempts[i] < st.retry[i].maxAttempts {
			th.dropFailedEvent()
			delay := r.retryDelay(st.retry[i], attempts[i])
			attempts[i]++
			retryCount++
			if err := r.clock.Sleep(ctx, delay); err != nil {
				r.recordAborted(th, st)
				return stateResult{}, err
			}
			continue
		}
		th.flushFailedEvent()
		return r.catch(th, st, raw, se)
	}
}

// attempt runs one attempt of a state in its type's own file.
func (r *runner) attempt(ctx context.Context, th *thread, st *state, raw any, rawText string, ctxObj map[string]any) (stateResult, error) {
	switch st.typ {
	case "Pass":
		return r.runPass(st, raw, rawText, ctxObj)
	case "Succeed":
		return r.runSucceed(st, raw, ctxObj)
	case "Fail":
		return stateResult{}, r.runFail(st, raw, ctxObj)
	case "Choice":
		return r.runChoice(st, raw, ctxObj)
	case "Wait":
		return r.runWait(ctx, st, raw, ctxObj)
	case "Task":
		return r.runTask(ctx, th, st, raw, rawText, ctxObj)
	case "Parallel":
		return r.runParallel(ctx, th, st, raw, ctxObj)
	case "Map":
		return r.runMap(ctx, th, st, raw, ctxObj)
	}
	return stateResult{}, &stateError{Name: ErrRuntime, Cause: "unknown state type " + st.typ}
}

// catch applies the first catcher whose ErrorEquals matches: the state's output is its input
// with {Error, Cause} at the catcher's ResultPath, and the catcher's Next comes next.
// Without one the error ends the state.
func (r *runner) catch(th *thread, st *state, raw any, se *stateError) (stateResult, error) {
	for _, c := range st.catch {
		if !matchesError(c.errorEquals, se.Name) {
			continue
		}
		errOut := map[string]any{"Error": se.Name, "Cause": se.Cause}
		out, err := applyResultPath(c.resultPath, raw, errOut)
		if err != nil {
			return stateResult{}, err
		}
		text, err := r.exit(th, st, out, "")
		if err != nil {
			return stateResult{}, err
		}
		return stateResult{out: out, text: text, next: c.next}, nil
	}
	return stateResult{}, se
}

// exit records <Type>StateExited, enforcing the payload quota on the output; text is the
// output's JSON text when the caller has it.
func (r *runner) exit(th *thread, st *state, out any, text string) (string, error) {
	if text == "" {
		text = encodeJSON(out)
	}
	if len(text) > MaxPayloadBytes {
		return "", &stateError{Name: ErrDataLimitExceeded, Cause: fmt.Sprintf("The state/task '%s' returned a result with a size exceeding the maximum number of bytes service limit.", st.name)}
	}
	th.stateExited(st, text)
	return text, nil
}

// recordAborted records <Type>StateAborted when the execution is being stopped.
func (r *runner) recordAborted(th *thread, st *state) {
	if r.parent.Err() != nil {
		th.stateAborted(st)
	}
}

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

func (r *runner) jitterFraction() float64 {
	r.rndMu.Lock()
	defer r.rndMu.Unlock()
	return r.rnd.Float64()
}
