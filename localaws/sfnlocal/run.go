package sfnlocal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// MaxPayloadBytes is the Step Functions payload quota (256 KiB) on execution input, state
// input after Parameters, task results and state output.
const MaxPayloadBytes = 256 * 1024

// MaxExecutionDuration is the maximum execution time of a Standard workflow, one year ("Step
// Functions service quotas", quotas related to state machine executions: an execution that runs
// longer fails with States.Timeout). It also bounds every Wait: "the maximum wait time that you
// can specify for Standard Workflows ... is one year" (the Wait state's page). Taken as 365 days.
const MaxExecutionDuration = 365 * 24 * time.Hour

// runner holds what one execution shares across its states, branches and iterations.
type runner struct {
	sm     *StateMachine
	opts   Options
	clock  Clock
	hist   *history
	parent context.Context // the caller's context: cancelled means aborted

	rndMu sync.Mutex
	rnd   *rand.Rand

	execCtx map[string]any // $$.Execution and $$.StateMachine
	region  string

	pathMu  sync.Mutex
	mapRuns []*MapRun // Map Runs the engine ran itself (guarded by pathMu)
	path    []pathEntry
	keys    []int // storage of the path entries' keys
}

// Run executes sm with input. It returns when the execution ends: SUCCEEDED, FAILED,
// TIMED_OUT (the machine's TimeoutSeconds) or ABORTED (ctx cancelled; see Stop).
func Run(ctx context.Context, sm *StateMachine, input json.RawMessage, opts Options) *Execution {
	clock := opts.Clock
	if clock == nil {
		clock = RealClock()
	}
	if vc := virtualOf(clock); vc != nil {
		if w, _ := ctx.Value(workerKey{}).(*VirtualClock); w != vc {
			// The run's goroutine counts as a worker of the virtual clock until the run ends.
			vc.work(1)
			defer vc.work(-1)
			ctx = vc.withWorker(ctx)
		}
		// else a task invoker of a run on the same clock runs this one with its Task's
		// context, waiting for it: the run goes on in the task's turn.
	}
	r := &runner{
		sm:     sm,
		opts:   opts,
		clock:  clock,
		hist:   &history{clock: clock, onEvent: opts.OnEvent, events: make([]HistoryEvent, 0, max(32, sm.historyLen.Load()))},
		parent: ctx,
		rnd:    opts.Rand,
		region: opts.Region,
		path:   make([]pathEntry, 0, 16),
	}
	if r.rnd == nil {
		r.rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if r.region == "" {
		r.region = arnRegion(opts.ExecutionArn)
	}
	exec := &Execution{StartDate: clock.Now()}

	inputText := strings.TrimSpace(string(input))
	if inputText == "" {
		inputText = "{}"
	}
	// The history keeps the input as given (key order included), compacted.
	in, compact, decodeErr := decodeCompactText(inputText)
	if decodeErr == nil && !compact {
		inputText = encodeJSON(in)
	}
	if sm.usesContext {
		r.execCtx = r.buildExecContext(in, exec.StartDate)
	}
	th := &thread{r: r, chunk: chunkFor(sm.root)}
	th.executionStarted(inputText, opts.RoleArn)
	th.last = 0 // AWS chains the first state's entry to nothing, not to ExecutionStarted

	finish := func() *Execution {
		exec.StopDate = clock.Now()
		exec.History = r.hist.handOver()
		sm.historyLen.Store(int32(min(len(exec.History), 1<<12))) // a bound, should one run loop long
		r.pathMu.Lock()
		exec.path = r.path // the run is over: nothing appends to it any more
		exec.MapRuns = r.mapRuns
		r.pathMu.Unlock()
		return exec
	}
	fail := func(se *stateError) *Execution {
		exec.Status, exec.Error, exec.Cause = StatusFailed, se.Name, se.Cause
		r.hist.executionFailed(se)
		return finish()
	}
	if decodeErr != nil {
		return fail(&stateError{Name: ErrRuntime, Cause: fmt.Sprintf("The execution input is not valid JSON: %v", decodeErr)})
	}
	if len(inputText) > MaxPayloadBytes {
		return fail(&stateError{Name: ErrDataLimitExceeded, Cause: fmt.Sprintf("The execution input of %d bytes exceeds the quota of %d bytes", len(inputText), MaxPayloadBytes)})
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.hist.mu.Lock()
	r.hist.onFull = func() { cancel(errHistoryFull) }
	r.hist.mu.Unlock()
	// Every execution ends at its machine's TimeoutSeconds or at Standard's one-year quota,
	// whichever comes first, on the run's clock.
	limit, limitCause := MaxExecutionDuration, errExecutionQuota
	if sm.TimeoutSeconds > 0 && time.Duration(sm.TimeoutSeconds)*time.Second < limit {
		limit, limitCause = time.Duration(sm.TimeoutSeconds)*time.Second, errExecutionTimedOut
	}
	stopTimer := afterFunc(clock, limit, func() { cancel(limitCause) })
	defer stopTimer()

	res, err := r.runScopeText(runCtx, th, sm.root, in, inputText)
	var se *stateError
	r.hist.mu.Lock()
	full := r.hist.full
	r.hist.mu.Unlock()
	switch {
	case full:
		// ExecutionFailed is already the history's last event (see history.addAt).
		exec.Status, exec.Error, exec.Cause = StatusFailed, ErrRuntime, historyFullCause
		return finish()
	case err == nil:
	case ctx.Err() != nil:
		exec.Status = StatusAborted
		d := stopDetails(ctx)
		exec.Error, exec.Cause = d.Error, d.Cause
		r.hist.executionAborted(d)
		return finish()
	case errors.Is(context.Cause(runCtx), errExecutionTimedOut):
		exec.Status, exec.Error = StatusTimedOut, ErrTimeout
		exec.Cause = fmt.Sprintf("The execution ran longer than the state machine's TimeoutSeconds (%d)", sm.TimeoutSeconds)
		r.hist.executionTimedOut(exec.Error, exec.Cause)
		return finish()
	case errors.Is(context.Cause(runCtx), errExecutionQuota):
		exec.Status, exec.Error = StatusTimedOut, ErrTimeout
		exec.Cause = fmt.Sprintf("The execution ran longer than Step Functions' maximum execution time for Standard workflows (one year, %d s)", int64(MaxExecutionDuration/time.Second))
		r.hist.executionTimedOut(exec.Error, exec.Cause)
		return finish()
	case errors.As(err, &se):
		return fail(se)
	case err != nil:
		return fail(&stateError{Name: ErrRuntime, Cause: err.Error()})
	}
	outText := res.text
	if outText == "" {
		outText = encodeJSON(res.out)
	}
	exec.Status, exec.Output = StatusSucceeded, json.RawMessage(outText)
	th.executionSucceeded(outText)
	return finish()
}

// arnRegion is the region field of an ARN (arn:partition:service:region:…), us-east-1 when
// there is none.
func arnRegion(arn string) string {
	rest := arn
	for range 3 {
		i := strings.IndexByte(rest, ':')
		if i < 0 {
			return "us-east-1"
		}
		rest = rest[i+1:]
	}
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		rest = rest[:i]
	}
	if rest == "" {
		return "us-east-1"
	}
	return rest
}

func arnName(arn string) string {
	if i := strings.LastIndexByte(arn, ':'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

func (r *runner) buildExecContext(input any, start time.Time) map[string]any {
	name := r.opts.Name
	if name == "" {
		name = arnName(r.opts.ExecutionArn)
	}
	smName := arnName(r.opts.StateMachineArn)
	return map[string]any{
		"Execution": map[string]any{
			"Id":           r.opts.ExecutionArn,
			"Input":        input,
			"Name":         name,
			"RoleArn":      r.opts.RoleArn,
			"StartTime":    formatTime(start),
			"RedriveCount": float64(0),
		},
		"StateMachine": map[string]any{
			"Id":   r.opts.StateMachineArn,
			"Name": smName,
		},
	}
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// contextFor returns $$ for one attempt of a state: nil when the state does not use it, the
// shared execution part when that is all it uses (read-only), else a fresh full one.
func (r *runner) contextFor(st *state, entered time.Time, retryCount int) map[string]any {
	switch {
	case st.usesStateContext:
		return r.stateContext(st, entered, retryCount, "")
	case st.usesContext:
		return r.execCtx
	}
	return nil
}

// stateContext builds $$ for one state (and one attempt of it).
func (r *runner) stateContext(st *state, entered time.Time, retryCount int, token string) map[string]any {
	c := make(map[string]any, len(r.execCtx)+2)
	for k, v := range r.execCtx {
		c[k] = v
	}
	c["State"] = map[string]any{
		"EnteredTime": formatTime(entered),
		"Name":        st.name,
		"RetryCount":  float64(retryCount),
	}
	if token != "" {
		c["Task"] = map[string]any{"Token": token}
	}
	return c
}

func (r *runner) env(input any, ctxObj map[string]any) *intrinsicEnv {
	return &intrinsicEnv{input: input, ctx: ctxObj, rand: r}
}

// lockedRand hands intrinsics a rand that is safe to use from concurrent branches.
func (r *runner) lockedRand() *rand.Rand {
	r.rndMu.Lock()
	seed1, seed2 := r.rnd.Uint64(), r.rnd.Uint64()
	r.rndMu.Unlock()
	return rand.New(rand.NewPCG(seed1, seed2))
}
