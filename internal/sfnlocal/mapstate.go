package sfnlocal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// inlineMapConcurrency bounds an inline Map whatever its MaxConcurrency says: AWS runs at
// most 40 iterations of an inline Map at once ("Inline mode ... supports up to 40 concurrent
// iterations", https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html;
// above that use Distributed mode, state-map-distributed.html).
const inlineMapConcurrency = 40

// runMap runs the ItemProcessor once per item of ItemsPath, at most MaxConcurrency at a
// time, and outputs the results in item order.
func (r *runner) runMap(ctx context.Context, th *thread, st *state, raw any, ctxObj map[string]any) (any, error) {
	if st.distributed {
		return r.runDistributedMap(ctx, th, st, raw, ctxObj)
	}
	eff, err := r.inputPath(st, raw, ctxObj)
	if err != nil {
		return nil, err
	}
	itemsVal := eff
	if st.itemsPath != nil {
		v, ok := st.itemsPath.get(eff, ctxObj)
		if !ok {
			return nil, pathNotFound(st.itemsPath.raw, "field 'ItemsPath'", eff)
		}
		itemsVal = v
	}
	items, ok := itemsVal.([]any)
	if !ok {
		return nil, &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("The Map state's items (ItemsPath) must be an array, got %s", typeName(itemsVal))}
	}
	limit := st.maxConcurrency
	if st.maxConcurrencyPath != nil {
		n, err := nonNegativeFromPath(st.maxConcurrencyPath, eff, ctxObj, "MaxConcurrencyPath")
		if err != nil {
			return nil, err
		}
		limit = int(n)
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
		if st.itemSelector == nil {
			inputs[i] = item
			continue
		}
		ic := make(map[string]any, len(ctxObj)+1)
		for k, v := range ctxObj {
			ic[k] = v
		}
		ic["Map"] = map[string]any{"Item": map[string]any{"Index": float64(i), "Value": item}}
		v, err := st.itemSelector.eval(r.env(eff, ic), "ItemSelector")
		if err != nil {
			return nil, err
		}
		inputs[i] = v
	}

	th.add("MapStateStarted", &MapStateStartedEventDetails{Length: len(items)})
	mctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	outputs := make([]any, len(items))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failErr  *stateError
		failures int
		lasts    = make([]int64, len(items))
	)
	exceeded := func() bool {
		if float64(failures) > tolCount {
			return true
		}
		return len(items) > 0 && float64(failures)*100/float64(len(items)) > tolPct
	}
	iterate := func(i int) {
		it := th.child(i, st.processor)
		it.add("MapIterationStarted", &MapIterationEventDetails{Name: st.name, Index: i})
		out, err := r.runBranch(mctx, it, st.processor, inputs[i])
		defer func() { lasts[i] = it.last }()
		if err == nil {
			it.add("MapIterationSucceeded", &MapIterationEventDetails{Name: st.name, Index: i})
			outputs[i] = out
			return
		}
		var se *stateError
		if !errors.As(err, &se) {
			it.add("MapIterationAborted", &MapIterationEventDetails{Name: st.name, Index: i})
			return
		}
		it.add("MapIterationFailed", &MapIterationEventDetails{Name: st.name, Index: i})
		mu.Lock()
		defer mu.Unlock()
		failures++
		outputs[i] = map[string]any{"Error": se.Name, "Cause": se.Cause}
		if failErr != nil {
			return
		}
		switch {
		case !tolerance:
			failErr = se
		case exceeded():
			failErr = &stateError{Name: ErrExceedToleratedFailureThreshold, Cause: fmt.Sprintf("The Map state %q failed because %d of %d iterations failed, more than it tolerates", st.name, failures, len(items))}
		default:
			return
		}
		cancel(errSiblingFailed)
	}
	// MaxConcurrency goroutines (or one per item, if fewer) take the items in order, so an
	// iteration starts as soon as one ends, and none after the state has failed.
	var next atomic.Int64
	n := min(limit, len(items))
	if n > 0 {
		workers := r.crew(n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer workers.done()
				for mctx.Err() == nil {
					i := int(next.Add(1) - 1)
					if i >= len(items) {
						return
					}
					iterate(i)
				}
			}()
		}
	}
	wg.Wait()
	th.last = maxID(lasts, th.last)
	if ctx.Err() != nil {
		return nil, ctx.Err() // runWithRetry records the abort
	}
	if failErr != nil {
		th.failedEvent = "MapStateFailed" // recorded by runWithRetry unless a retrier runs the Map again
		return nil, failErr
	}
	th.add("MapStateSucceeded", nil)
	return r.finishResult(st, raw, outputs, ctxObj)
}

func nonNegativeFromPath(p *jsonPath, eff any, ctxObj map[string]any, field string) (float64, error) {
	v, ok := p.get(eff, ctxObj)
	f, isNum := v.(float64)
	if !ok || !isNum || !isInteger(f) || f < 0 {
		return 0, &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("The %s '%s' does not reference a non-negative integer in the input '%s'", field, p.raw, encodeJSON(eff))}
	}
	return f, nil
}
