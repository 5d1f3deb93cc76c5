package sfnlocal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

type heartbeatKey struct{}

// heartbeat resets a task's HeartbeatSeconds timer.
type heartbeat struct {
	mu    sync.Mutex
	reset func()
}

// Heartbeat tells the engine that the task running with ctx is alive (SendTaskHeartbeat):
// its HeartbeatSeconds timer starts again. It reports false when ctx belongs to no task
// with HeartbeatSeconds.
func Heartbeat(ctx context.Context) bool {
	hb, ok := ctx.Value(heartbeatKey{}).(*heartbeat)
	if !ok {
		return false
	}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.reset()
	return true
}

type taskResult struct {
	out json.RawMessage
	err error
}

// invoke calls the task invoker under the task's TimeoutSeconds and HeartbeatSeconds. The
// invoker's context is cancelled when either runs out (in the engine's clock); an invoker
// that ignores its context is abandoned at that moment. Errors are *stateError, or the
// context's error when the execution is being stopped.
func (r *runner) invoke(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
	if r.opts.Tasks == nil {
		return nil, &stateError{Name: ErrTaskFailed, Cause: fmt.Sprintf("No task invoker is configured to run %s", req.Resource)}
	}
	if req.Timeout <= 0 && req.Heartbeat <= 0 {
		// Nothing to enforce: call inline (an invoker must honour ctx for aborts).
		return r.taskOutcome(ctx, ctx, req, r.callInvoker(ctx, req))
	}
	tctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if req.Timeout > 0 {
		if _, real := r.clock.(realClock); real {
			var cancelDeadline context.CancelFunc
			tctx, cancelDeadline = context.WithDeadlineCause(tctx, time.Now().Add(req.Timeout), errTaskTimedOut)
			defer cancelDeadline()
		} else {
			stop := afterFunc(r.clock, req.Timeout, func() { cancel(errTaskTimedOut) })
			defer stop()
		}
	}
	if req.Heartbeat > 0 {
		hb := &heartbeat{}
		var stop func() bool
		hb.reset = func() {
			if stop != nil {
				stop()
			}
			stop = afterFunc(r.clock, req.Heartbeat, func() { cancel(errHeartbeatTimedOut) })
		}
		hb.reset()
		defer func() {
			hb.mu.Lock()
			stop()
			hb.mu.Unlock()
		}()
		tctx = context.WithValue(tctx, heartbeatKey{}, hb)
	}
	done := make(chan taskResult, 1)
	go func() { done <- r.callInvoker(tctx, req) }()
	var res taskResult
	select {
	case res = <-done:
	case <-tctx.Done():
		// Give an invoker that honours its context the chance to report first.
		select {
		case res = <-done:
		case <-time.After(50 * time.Millisecond):
			res = taskResult{err: tctx.Err()}
		}
	}
	return r.taskOutcome(ctx, tctx, req, res)
}

// callInvoker runs the invoker; a panic in it fails the task instead of the process.
func (r *runner) callInvoker(ctx context.Context, req TaskRequest) (res taskResult) {
	defer func() {
		if p := recover(); p != nil {
			res = taskResult{err: fmt.Errorf("task invoker panicked: %v", p)}
		}
	}()
	out, err := r.opts.Tasks.InvokeTask(ctx, req)
	return taskResult{out, err}
}

func (r *runner) taskOutcome(ctx, tctx context.Context, req TaskRequest, res taskResult) (json.RawMessage, error) {
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	switch cause := context.Cause(tctx); {
	case errors.Is(cause, errTaskTimedOut):
		return nil, &stateError{Name: ErrTimeout, Cause: fmt.Sprintf("The task did not finish within TimeoutSeconds (%d)", int(req.Timeout/time.Second))}
	case errors.Is(cause, errHeartbeatTimedOut):
		return nil, &stateError{Name: ErrHeartbeatTimeout, Cause: fmt.Sprintf("The task sent no heartbeat within HeartbeatSeconds (%d)", int(req.Heartbeat/time.Second))}
	}
	if res.err != nil {
		var te *TaskError
		if errors.As(res.err, &te) {
			name := te.Failure.Error
			if name == "" {
				name = ErrTaskFailed
			}
			return nil, &stateError{Name: name, Cause: te.Failure.Cause}
		}
		return nil, &stateError{Name: ErrTaskFailed, Cause: res.err.Error()}
	}
	return res.out, nil
}
