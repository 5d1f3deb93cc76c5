package sfnlocal

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// runMap runs a Map state: inline (mapinline.go, iterations in this execution) or
// Distributed (mapdist.go, child executions in a Map Run). What both read of the state's
// input is here.
func (r *runner) runMap(ctx context.Context, th *thread, st *state, raw any, ctxObj map[string]any) (stateResult, error) {
	var (
		out any
		err error
	)
	if st.distributed {
		out, err = r.runDistributedMap(ctx, th, st, raw, ctxObj)
	} else {
		out, err = r.runInlineMap(ctx, th, st, raw, ctxObj)
	}
	return stateResult{out: out}, err
}

// mapItems is the array ItemsPath selects from the effective input (all of it without
// ItemsPath).
func mapItems(st *state, eff any, ctxObj map[string]any) ([]any, error) {
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
	return items, nil
}

// mapConcurrency is MaxConcurrency, or the value MaxConcurrencyPath selects (0: no limit of
// its own).
func mapConcurrency(st *state, eff any, ctxObj map[string]any) (int, error) {
	if st.maxConcurrencyPath == nil {
		return st.maxConcurrency, nil
	}
	n, err := nonNegativeFromPath(st.maxConcurrencyPath, eff, ctxObj, "MaxConcurrencyPath")
	return int(n), err
}

// itemInput is item i's input to the ItemProcessor: the item, or ItemSelector evaluated with
// $$.Map.Item.Index and $$.Map.Item.Value.
func (r *runner) itemInput(st *state, eff any, ctxObj map[string]any, i int, item any) (any, error) {
	if st.itemSelector == nil {
		return item, nil
	}
	ic := make(map[string]any, len(ctxObj)+1)
	for k, v := range ctxObj {
		ic[k] = v
	}
	ic["Map"] = map[string]any{"Item": map[string]any{"Index": float64(i), "Value": item}}
	return st.itemSelector.eval(r.env(eff, ic), "ItemSelector")
}

// failureTolerance is what a Map of items tolerates: count failed items, or pct percent of them
// (the values tolerance reads).
type failureTolerance struct {
	count, pct float64
	items      int
}

// exceededBy says whether failures are more than the Map tolerates: more than count, or more
// than pct percent of its items.
func (t failureTolerance) exceededBy(failures int) bool {
	return float64(failures) > t.count || (t.items > 0 && float64(failures)*100/float64(t.items) > t.pct)
}

// mapFailures counts the failed items of a running Map and keeps the error that ends it: the
// first one decide returns in add, upon which stop stops the other items.
type mapFailures struct {
	failureTolerance
	stop func()

	mu    sync.Mutex
	count int
	err   *stateError
}

// add counts one more failed item. While no error has ended the Map, decide says from the
// count so far whether this one does (nil: the Map goes on).
func (f *mapFailures) add(decide func(failures int) *stateError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count++
	if f.err == nil {
		if f.err = decide(f.count); f.err != nil {
			f.stop()
		}
	}
}

// tolerance reads ToleratedFailureCount/Percentage[Path]; without any it tolerates none in
// Distributed mode (DescribeMapRun reports toleratedFailureCount 0 and percentage 0.0) and
// every failure is fatal in Inline mode.
func (r *runner) tolerance(st *state, eff any, ctxObj map[string]any) (given bool, count, pct float64, err error) {
	given = st.hasToleratedCount || st.hasToleratedPct || st.toleratedCountPath != nil || st.toleratedPctPath != nil
	count, pct = math.Inf(1), math.Inf(1)
	if st.hasToleratedCount {
		count = float64(st.toleratedCount)
	}
	if st.toleratedCountPath != nil {
		v, ok := st.toleratedCountPath.get(eff, ctxObj)
		f, isNum := v.(float64)
		switch {
		case ok && isNum && isInteger(f) && f < 0:
			err = &stateError{Name: ErrRuntime, Cause: "ToleratedFailureCount cannot be negative."}
			return
		case !ok || !isNum || !isInteger(f):
			// Not recorded: the count path's other failures keep sfnlocal's own wording.
			err = &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("The ToleratedFailureCountPath '%s' does not reference a non-negative integer in the input '%s'", st.toleratedCountPath.raw, encodeJSON(eff))}
			return
		}
		count = f
	}
	if st.hasToleratedPct {
		pct = st.toleratedPct
	}
	if st.toleratedPctPath != nil {
		v, ok := st.toleratedPctPath.get(eff, ctxObj)
		f, isNum := v.(float64)
		if !ok || !isNum || f < 0 || f > 100 {
			err = &stateError{Name: ErrRuntime, Cause: "ToleratedFailurePercentage must be between 0 and 100."}
			return
		}
		pct = f
	}
	return
}

func nonNegativeFromPath(p *jsonPath, eff any, ctxObj map[string]any, field string) (float64, error) {
	v, ok := p.get(eff, ctxObj)
	f, isNum := v.(float64)
	if !ok || !isNum || !isInteger(f) || f < 0 {
		return 0, &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("The %s '%s' does not reference a non-negative integer in the input '%s'", field, p.raw, encodeJSON(eff))}
	}
	return f, nil
}

// forEachItem runs do for items 0 … count-1 on min(limit, count) goroutines that take them in
// order, so that an item starts as soon as another ends (MaxConcurrency), and none starts once
// ctx is done; it returns when every goroutine has ended. Both Map modes run their items so.
func (r *runner) forEachItem(ctx context.Context, limit, count int, do func(i int)) {
	n := min(limit, count)
	if n <= 0 {
		return
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	workers := r.crew(n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer workers.done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= count {
					return
				}
				do(i)
			}
		}()
	}
	wg.Wait()
}
