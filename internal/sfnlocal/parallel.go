package sfnlocal

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// runParallel runs every branch on the state's effective input at once. The output is the
// array of branch outputs in branch order; the first branch to fail fails the state and
// cancels the others.
func (r *runner) runParallel(ctx context.Context, th *thread, st *state, raw any, ctxObj map[string]any) (any, error) {
	eff, err := r.effectiveInput(st, raw, ctxObj)
	if err != nil {
		return nil, err
	}
	th.add("ParallelStateStarted", nil)
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
		return nil, ctx.Err() // runWithRetry records the abort
	}
	if firstErr != nil {
		th.failedEvent = "ParallelStateFailed" // no details; recorded by runWithRetry unless retried
		return nil, firstErr
	}
	th.add("ParallelStateSucceeded", nil)
	return r.finishResult(st, raw, outputs, ctxObj)
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
