package sfnlocal

import (
	"context"
	"errors"
	"fmt"
)

// inlineMapConcurrency bounds an inline Map whatever its MaxConcurrency says: AWS runs at
// most 40 iterations of an inline Map at once ("Inline mode ... supports up to 40 concurrent
// iterations", https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html;
// above that use Distributed mode, state-map-distributed.html).
const inlineMapConcurrency = 40

// runInlineMap runs the ItemProcessor once per item of ItemsPath, at most MaxConcurrency at
// a time, and outputs the results in item order.
func (r *runner) runInlineMap(ctx context.Context, th *thread, st *state, raw any, ctxObj map[string]any) (any, error) {
	eff, err := r.inputPath(st, raw, ctxObj)
	if err != nil {
		return nil, err
	}
	items, err := mapItems(st, eff, ctxObj)
	if err != nil {
		return nil, err
	}
	limit, err := mapConcurrency(st, eff, ctxObj)
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > inlineMapConcurrency {
		limit = inlineMapConcurrency
	}
	tolerance, tolCount, tolPct, err := r.tolerance(st, eff, ctxObj)
	if err != nil {
		return nil, err
	}

	// Item inputs are built before any iteration starts, so a bad ItemSelector fails the
	// state without running anything.
	inputs := make([]any, len(items))
	for i, item := range items {
		v, err := r.itemInput(st, eff, ctxObj, i, item)
		if err != nil {
			return nil, err
		}
		inputs[i] = v
	}

	th.mapStateStarted(len(items))
	mctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	outputs := make([]any, len(items))
	lasts := make([]int64, len(items))
	failed := &mapFailures{failureTolerance: failureTolerance{count: tolCount, pct: tolPct, items: len(items)},
		stop: func() { cancel(errSiblingFailed) }}
	iterate := func(i int) {
		it := th.child(i, st.processor)
		it.mapIterationStarted(st, i)
		out, err := r.runBranch(mctx, it, st.processor, inputs[i])
		defer func() { lasts[i] = it.last }()
		if err == nil {
			it.mapIterationSucceeded(st, i)
			outputs[i] = out
			return
		}
		var se *stateError
		if !errors.As(err, &se) {
			it.mapIterationAborted(st, i)
			return
		}
		it.mapIterationFailed(st, i)
		outputs[i] = map[string]any{"Error": se.Name, "Cause": se.Cause}
		failed.add(func(n int) *stateError {
			switch {
			case !tolerance:
				return se
			case failed.exceededBy(n):
				return &stateError{Name: ErrExceedToleratedFailureThreshold, Cause: fmt.Sprintf("The Map state %q failed because %d of %d iterations failed, more than it tolerates", st.name, n, len(items))}
			}
			return nil
		})
	}
	// None starts after the state has failed (mctx is cancelled).
	r.forEachItem(mctx, limit, len(items), iterate)
	th.last = maxID(lasts, th.last)
	if ctx.Err() != nil {
		return nil, ctx.Err() // the executor records the abort
	}
	if failed.err != nil {
		th.mapStateFailedLater() // recorded by the executor unless a retrier runs the Map again
		return nil, failed.err
	}
	th.mapStateSucceeded()
	return r.finishResult(st, raw, outputs, ctxObj)
}
