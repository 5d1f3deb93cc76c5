package sfnlocal

import (
	"context"
	"errors"
	"sync"
)

// runParallel runs every branch on the state's effective input at once. The output is the
// array of branch outputs in branch order; the first branch to fail fails the state and
// cancels the others.
func (r *runner) runParallel(ctx context.Context, th *thread, st *state, raw any, ctxObj map[string]any) (stateResult, error) {
	eff, err := r.effectiveInput(st, raw, ctxObj)
	if err != nil {
		return stateResult{}, err
	}
	th.parallelStateStarted()
	bctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	outputs := make([]any, len(st.branches))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr *stateError
		lasts    = make([]int64, len(st.branches))
	)
	workers := r.crew(len(st.branches))
	for i, br := range st.branches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer workers.done()
			bt := th.child(i, br)
			out, err := r.runBranch(bctx, bt, br, eff)
			lasts[i] = bt.last
			if err != nil {
				var se *stateError
				if errors.As(err, &se) {
					mu.Lock()
					if firstErr == nil {
						firstErr = se
						cancel(errSiblingFailed)
					}
					mu.Unlock()
				}
				return
			}
			outputs[i] = out
		}()
	}
	wg.Wait()
	th.last = maxID(lasts, th.last)
	if ctx.Err() != nil {
		return stateResult{}, ctx.Err() // the executor records the abort
	}
	if firstErr != nil {
		th.parallelStateFailedLater() // recorded by the executor unless a retrier runs the state again
		return stateResult{}, firstErr
	}
	th.parallelStateSucceeded()
	out, err := r.finishResult(st, raw, outputs, ctxObj)
	return stateResult{out: out}, err
}

func maxID(ids []int64, floor int64) int64 {
	m := floor
	for _, id := range ids {
		if id > m {
			m = id
		}
	}
	return m
}
