package sfnlocal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// runTask runs one attempt of a Task state. Besides the output it returns the output's JSON
// text when it is the task's result unchanged (no ResultSelector/ResultPath/OutputPath), so
// the text need not be encoded again.
func (r *runner) runTask(ctx context.Context, th *thread, st *state, raw any, rawText string, ctxObj map[string]any) (any, string, error) {
	token := ""
	if strings.HasSuffix(st.resource, ".waitForTaskToken") {
		token = newTaskToken()
		ctxObj["Task"] = map[string]any{"Token": token}
	}
	var (
		eff    any
		inText string
		input  json.RawMessage // the invoker's copy of inText
	)
	if st.parameters != nil && st.timeoutPath == nil && st.heartbeatPath == nil {
		// Only the text of the effective input is needed: write it from the template.
		in, err := r.inputPath(st, raw, ctxObj)
		if err != nil {
			return nil, "", err
		}
		known := ""
		if st.inputPath == (ioPath{}) {
			known = rawText
		}
		b, err := st.parameters.appendText(make([]byte, 0, len(known)+128), r.env(in, ctxObj), known, "Parameters")
		if err != nil {
			return nil, "", err
		}
		inText, input = string(b), b // the invoker gets the buffer itself: one copy, not two
	} else {
		var err error
		if eff, err = r.effectiveInput(st, raw, ctxObj); err != nil {
			return nil, "", err
		}
		inText = encodeJSON(eff)
	}
	if len(inText) > MaxPayloadBytes {
		return nil, "", &stateError{Name: ErrDataLimitExceeded, Cause: fmt.Sprintf("The state/task '%s' has an input of %d bytes after Parameters, above the quota of %d bytes", st.name, len(inText), MaxPayloadBytes)}
	}
	timeout, err := r.secondsOrPath(st.timeoutSeconds, st.timeoutPath, eff, ctxObj, "TimeoutSecondsPath")
	if err != nil {
		return nil, "", err
	}
	heartbeat, err := r.secondsOrPath(st.heartbeatSeconds, st.heartbeatPath, eff, ctxObj, "HeartbeatSecondsPath")
	if err != nil {
		return nil, "", err
	}

	r.recordTaskStarted(th, st, inText, timeout, heartbeat)
	if input == nil {
		input = json.RawMessage(inText)
	}

	req := TaskRequest{
		Resource: st.resource, Input: input, StateName: st.name, TaskToken: token,
		Timeout: timeout, Heartbeat: heartbeat, ExecutionArn: r.opts.ExecutionArn,
	}
	var sub *submission
	if st.kind == kindIntegration {
		sub = &submission{th: th, st: st}
		ctx = context.WithValue(ctx, submissionKey{}, sub)
	}
	result, se := r.invoke(ctx, req)
	submitted := sub != nil && sub.close() // from here on only this goroutine records events
	if se == nil && ctx.Err() != nil {
		return nil, "", ctx.Err()
	}
	if se != nil {
		var failure *stateError
		if !errors.As(se, &failure) {
			return nil, "", se // cancelled
		}
		r.recordTaskFailed(th, st, failure)
		return nil, "", failure
	}
	resultBytes := bytes.TrimSpace(result)
	if len(resultBytes) == 0 {
		resultBytes = []byte("null")
	}
	// The history keeps the task's result as it sent it (key order included), compacted;
	// the decoded strings share its text.
	outText := string(resultBytes)
	value, compacted, err := decodeCompactText(outText)
	if err != nil {
		failure := &stateError{Name: ErrTaskFailed, Cause: fmt.Sprintf("The task returned a result that is not JSON: %v", err)}
		r.recordTaskFailed(th, st, failure)
		return nil, "", failure
	}
	if !compacted {
		var compact bytes.Buffer
		if err := json.Compact(&compact, resultBytes); err != nil {
			compact.Reset()
			compact.WriteString(encodeJSON(value))
		}
		outText = compact.String()
	}
	if len(outText) > MaxPayloadBytes {
		// AWS names the resource (the function ARN, or the integration's service) and records
		// the task's failure; the error can be caught (see stateError.taskResult).
		failure := &stateError{Name: ErrDataLimitExceeded, taskResult: true,
			Cause: fmt.Sprintf("The state/task '%s' returned a result with a size exceeding the maximum number of bytes service limit.", resultOwner(st))}
		r.recordTaskFailed(th, st, failure)
		return nil, "", failure
	}
	r.recordTaskSucceeded(th, st, outText, submitted)
	if st.resultSelector == nil && st.resultPath.path == nil && !st.resultPath.discard && st.outputPath.path == nil && !st.outputPath.null {
		return value, outText, nil
	}
	out, err := r.finishResult(st, raw, value, ctxObj)
	if err != nil || st.resultSelector != nil {
		return out, "", err
	}
	return out, r.splicedText(st, raw, rawText, func() string { return outText }), nil
}

func (r *runner) secondsOrPath(n int, p *jsonPath, eff any, ctxObj map[string]any, field string) (time.Duration, error) {
	if p == nil {
		return time.Duration(n) * time.Second, nil
	}
	v, ok := p.get(eff, ctxObj)
	f, isNum := v.(float64)
	if !ok || !isNum || !isInteger(f) || f < 1 {
		return 0, &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("The %s '%s' does not reference a positive integer in the input '%s'", field, p.raw, encodeJSON(eff))}
	}
	return time.Duration(f) * time.Second, nil
}

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

func newTaskToken() string {
	var b [48]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// resultOwner is how AWS names a Task in its result-size failure: a Lambda function's ARN, an
// integration's service ("lambda" for arn:aws:states:::lambda:invoke).
func resultOwner(st *state) string {
	if st.kind == kindLambda {
		return st.resource
	}
	if st.resourceType != "" {
		return st.resourceType
	}
	return st.name
}
