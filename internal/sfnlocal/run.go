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

// crew counts the goroutines of one Parallel or Map state as workers of a VirtualClock.
// The state's own goroutine stops counting while it waits for them, and the last one to end
// hands its count back to it, so no instant slips by in between.
type crew struct {
	vc   *VirtualClock
	mu   sync.Mutex
	left int
}

// crew registers n (≥ 1) goroutines about to start; the caller waits for them.
func (r *runner) crew(n int) *crew {
	c := &crew{vc: virtualOf(r.clock), left: n}
	if c.vc != nil {
		c.vc.work(n - 1) // n more, less the waiting caller
	}
	return c
}

// done is called by each goroutine as it ends.
func (c *crew) done() {
	c.mu.Lock()
	c.left--
	last := c.left == 0
	c.mu.Unlock()
	if !last && c.vc != nil {
		c.vc.work(-1)
	}
}

// thread is one sequential line of events (the execution, a branch, an iteration); it
// chains previousEventId.
type thread struct {
	r    *runner
	last int64

	// prefix and entered order the states this thread enters so that StatePath is
	// deterministic: a Parallel's branches are listed in branch order, a Map's iterations in
	// item order, whatever order they ran in.
	prefix  []int
	entered int

	// failedEvent is MapStateFailed or ParallelStateFailed once a Map's iterations or a
	// Parallel's branches failed: AWS records it once, when no retrier runs the state again
	// (recorded: localstack tests/aws/services/stepfunctions/v2/scenarios/test_base_scenarios.snapshot.json,
	// test_map_state_retry, test_parallel_state_retry).
	failedEvent string

	// The details of the most frequent events (every state's, a Lambda task's) come from
	// chunks, the first ones of chunk values.
	chunk           int
	enteredDetails  chunked[StateEnteredEventDetails]
	exitedDetails   chunked[StateExitedEventDetails]
	lambdaScheduled chunked[LambdaFunctionScheduledEventDetails]
	lambdaSucceeded chunked[OutputDetails]
}

// chunked hands out pointers to values stored in chunks, so that one allocation serves
// several values. A chunk is never appended to beyond its capacity, so the pointers stay
// valid. Not safe for concurrent use (a thread's events are recorded in sequence).
type chunked[T any] struct{ chunk []T }

// alloc stores v and returns its address; first is the size of the first chunk, later ones
// double up to 64.
func (c *chunked[T]) alloc(v T, first int) *T {
	if len(c.chunk) == cap(c.chunk) {
		c.chunk = make([]T, 0, min(max(2*cap(c.chunk), first), 64))
	}
	c.chunk = append(c.chunk, v)
	return &c.chunk[len(c.chunk)-1]
}

// child returns the thread of branch/iteration i, which runs sc, of the state this thread
// is in.
func (t *thread) child(i int, sc *scope) *thread {
	p := make([]int, 0, len(t.prefix)+2)
	p = append(p, t.prefix...)
	p = append(p, t.entered, i)
	return &thread{r: t.r, last: t.last, prefix: p, chunk: chunkFor(sc)}
}

// chunkFor is the size of a thread's first chunks of event details: room for each state of
// the scope it runs once.
func chunkFor(sc *scope) int { return min(max(len(sc.order), 1), 64) }

func (t *thread) enter(name string) {
	t.entered++
	t.r.pathMu.Lock()
	// The keys are cut from one shared buffer (three-index slices: appending to one key
	// cannot reach the next).
	n := len(t.prefix) + 1
	if cap(t.r.keys)-len(t.r.keys) < n {
		t.r.keys = make([]int, 0, max(16, n))
	}
	start := len(t.r.keys)
	t.r.keys = append(append(t.r.keys, t.prefix...), t.entered)
	t.r.path = append(t.r.path, pathEntry{key: t.r.keys[start : start+n : start+n], name: name})
	t.r.pathMu.Unlock()
}

func (t *thread) add(typ string, details any) int64 {
	return t.addAt(t.r.clock.Now(), typ, details)
}

// addAt is add with the event's time already read from the clock.
func (t *thread) addAt(at time.Time, typ string, details any) int64 {
	t.last = t.r.hist.addAt(at, t.last, typ, details)
	return t.last
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
	th.add("ExecutionStarted", &ExecutionStartedEventDetails{Input: inputText, InputDetails: notTruncated, RoleArn: opts.RoleArn})
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
		r.hist.add(r.hist.lastID(), "ExecutionFailed", &ErrorCauseDetails{Error: se.Name, Cause: se.Cause})
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
	if sm.TimeoutSeconds > 0 {
		stop := afterFunc(clock, time.Duration(sm.TimeoutSeconds)*time.Second, func() { cancel(errExecutionTimedOut) })
		defer stop()
	}

	out, outText, err := r.runScopeText(runCtx, th, sm.root, in, inputText)
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
		r.hist.add(r.hist.lastID(), "ExecutionAborted", d)
		return finish()
	case errors.Is(context.Cause(runCtx), errExecutionTimedOut):
		exec.Status, exec.Error = StatusTimedOut, ErrTimeout
		exec.Cause = fmt.Sprintf("The execution ran longer than the state machine's TimeoutSeconds (%d)", sm.TimeoutSeconds)
		r.hist.add(r.hist.lastID(), "ExecutionTimedOut", &ErrorCauseDetails{Error: exec.Error, Cause: exec.Cause})
		return finish()
	case errors.As(err, &se):
		return fail(se)
	case err != nil:
		return fail(&stateError{Name: ErrRuntime, Cause: err.Error()})
	}
	if outText == "" {
		outText = encodeJSON(out)
	}
	exec.Status, exec.Output = StatusSucceeded, json.RawMessage(outText)
	th.add("ExecutionSucceeded", &ExecutionSucceededEventDetails{Output: outText, OutputDetails: notTruncated})
	return finish()
}

func (h *history) lastID() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return int64(len(h.events))
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

func (r *runner) jitterFraction() float64 {
	r.rndMu.Lock()
	defer r.rndMu.Unlock()
	return r.rnd.Float64()
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

// runScope runs states from sc.startAt until one ends the scope.
func (r *runner) runScope(ctx context.Context, th *thread, sc *scope, input any) (any, error) {
	out, _, err := r.runScopeText(ctx, th, sc, input, "")
	return out, err
}

// runScopeText is runScope that takes the input's JSON text (if known) and also returns the
// output's.
func (r *runner) runScopeText(ctx context.Context, th *thread, sc *scope, input any, inputText string) (any, string, error) {
	name, cur, curText := sc.startAt, input, inputText
	for {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		out, outText, next, err := r.runState(ctx, th, sc.states[name], cur, curText)
		if err != nil {
			return nil, "", err
		}
		if next == "" {
			return out, outText, nil
		}
		// The output text recorded on exit is the next state's input text.
		name, cur, curText = next, out, outText
	}
}

// runState runs one state and returns its output (and its JSON text) and the next state
// ("" when it ends the scope). rawText is raw's JSON text when the caller has it.
func (r *runner) runState(ctx context.Context, th *thread, st *state, raw any, rawText string) (any, string, string, error) {
	entered := r.clock.Now()
	th.enter(st.name)
	if rawText == "" {
		rawText = encodeJSON(raw)
	}
	th.addAt(entered, st.enteredEvent, th.enteredDetails.alloc(StateEnteredEventDetails{Name: st.name, Input: rawText, InputDetails: notTruncated}, th.chunk))
	ctxObj := r.contextFor(st, entered, 0)
	var (
		out   any
		next  = st.next
		err   error
		known string // out's JSON text, when at hand
	)
	switch st.typ {
	case "Pass":
		var text string
		if out, text, err = r.runPass(st, raw, rawText, ctxObj); text != "" {
			known = text
		}
	case "Succeed":
		out, err = r.runSucceed(st, raw, ctxObj)
	case "Fail":
		return nil, "", "", r.runFail(st, raw, ctxObj)
	case "Choice":
		out, next, err = r.runChoice(st, raw, ctxObj)
	case "Wait":
		out, err = r.runWait(ctx, th, st, raw, ctxObj)
	case "Task", "Parallel", "Map":
		return r.runWithRetry(ctx, th, st, raw, rawText, entered)
	default:
		err = &stateError{Name: ErrRuntime, Cause: "unknown state type " + st.typ}
	}
	if err != nil {
		return nil, "", "", err
	}
	if st.passthrough {
		known = rawText // the output is the input, unchanged
	}
	text, err := r.exitText(th, st, out, known)
	if err != nil {
		return nil, "", "", err
	}
	return out, text, next, nil
}

// exit records <Type>StateExited, enforcing the payload quota on the output.
func (r *runner) exit(th *thread, st *state, out any) (string, error) {
	return r.exitText(th, st, out, "")
}

// exitText is exit with the output's JSON text when the caller has it.
func (r *runner) exitText(th *thread, st *state, out any, text string) (string, error) {
	if text == "" {
		text = encodeJSON(out)
	}
	if len(text) > MaxPayloadBytes {
		return "", &stateError{Name: ErrDataLimitExceeded, Cause: fmt.Sprintf("The state/task '%s' returned a result with a size exceeding the maximum number of bytes service limit.", st.name)}
	}
	th.add(st.exitedEvent, th.exitedDetails.alloc(StateExitedEventDetails{Name: st.name, Output: text, OutputDetails: notTruncated}, th.chunk))
	return text, nil
}

func (r *runner) inputPath(st *state, raw any, ctxObj map[string]any) (any, error) {
	return applyIOPath(st.inputPath, raw, ctxObj, "InputPath")
}

func (r *runner) outputPath(st *state, v any, ctxObj map[string]any) (any, error) {
	return applyIOPath(st.outputPath, v, ctxObj, "OutputPath")
}

func applyIOPath(p ioPath, v any, ctxObj map[string]any, field string) (any, error) {
	switch {
	case p.null:
		return map[string]any{}, nil
	case p.path == nil:
		return v, nil
	}
	out, ok := p.path.get(v, ctxObj)
	if !ok {
		se := pathNotFound(p.path.raw, "field '"+field+"'", pathRoot(p.path, v, ctxObj))
		se.Cause = "Invalid path '" + p.path.raw + "' : " + se.Cause
		return nil, se
	}
	return out, nil
}

func applyResultPath(rp resultPathSpec, raw, result any) (any, error) {
	switch {
	case rp.discard:
		return raw, nil
	case rp.path == nil:
		return result, nil
	}
	out, err := rp.path.set(raw, result)
	if err != nil {
		return nil, &stateError{Name: ErrResultPathMatchFailure, Cause: fmt.Sprintf("Unable to apply ResultPath '%s' to input '%s': %v", rp.path.raw, encodeJSON(raw), err)}
	}
	return out, nil
}

// finishResult applies ResultSelector, ResultPath and OutputPath to a state's result.
func (r *runner) finishResult(st *state, raw, result any, ctxObj map[string]any) (any, error) {
	if st.resultSelector != nil {
		v, err := st.resultSelector.eval(r.env(result, ctxObj), "ResultSelector")
		if err != nil {
			return nil, err
		}
		result = v
	}
	out, err := applyResultPath(st.resultPath, raw, result)
	if err != nil {
		return nil, err
	}
	return r.outputPath(st, out, ctxObj)
}

func (r *runner) effectiveInput(st *state, raw any, ctxObj map[string]any) (any, error) {
	eff, err := r.inputPath(st, raw, ctxObj)
	if err != nil {
		return nil, err
	}
	if st.parameters != nil {
		return st.parameters.eval(r.env(eff, ctxObj), "Parameters")
	}
	return eff, nil
}

func (r *runner) runPass(st *state, raw any, rawText string, ctxObj map[string]any) (any, string, error) {
	eff, err := r.effectiveInput(st, raw, ctxObj)
	if err != nil {
		return nil, "", err
	}
	result := eff
	if st.hasResult {
		result = st.result
	}
	out, err := applyResultPath(st.resultPath, raw, result)
	if err != nil {
		return nil, "", err
	}
	if text := r.splicedText(st, raw, rawText, func() string { return encodeJSON(result) }); text != "" {
		return out, text, nil
	}
	out, err = r.outputPath(st, out, ctxObj)
	return out, "", err
}

// splicedText returns the output's JSON text for a state whose ResultPath puts the result
// under one top-level member of its object input ("$.error") and has no OutputPath: the
// input's text with that member set, which saves encoding the whole document again. It
// returns "" when that does not apply.
func (r *runner) splicedText(st *state, raw any, rawText string, resultText func() string) string {
	if st.spliceKey == "" || rawText == "" || st.outputPath != (ioPath{}) {
		return ""
	}
	if _, ok := raw.(map[string]any); !ok {
		return ""
	}
	return spliceMember(rawText, st.spliceKey, resultText())
}

func (r *runner) runSucceed(st *state, raw any, ctxObj map[string]any) (any, error) {
	eff, err := r.inputPath(st, raw, ctxObj)
	if err != nil {
		return nil, err
	}
	return r.outputPath(st, eff, ctxObj)
}

func (r *runner) runFail(st *state, raw any, ctxObj map[string]any) error {
	se := &stateError{Name: st.errorName, Cause: st.cause}
	eval := func(src *valueSource, field string) (string, error) {
		var v any
		if src.call != nil {
			x, err := src.call.eval(r.env(raw, ctxObj))
			if err != nil {
				return "", err
			}
			v = x
		} else {
			x, ok := src.path.get(raw, ctxObj)
			if !ok {
				return "", pathNotFound(src.raw, "field '"+field+"'", pathRoot(src.path, raw, ctxObj))
			}
			v = x
		}
		s, ok := v.(string)
		if !ok {
			return "", &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("The value of %s ('%s') must be a string, got %s", field, src.raw, encodeJSON(v))}
		}
		return s, nil
	}
	if st.errorPath != nil {
		s, err := eval(st.errorPath, "ErrorPath")
		if err != nil {
			return err
		}
		se.Name = s
	}
	if st.causePath != nil {
		s, err := eval(st.causePath, "CausePath")
		if err != nil {
			return err
		}
		se.Cause = s
	}
	return se
}

func (r *runner) runChoice(st *state, raw any, ctxObj map[string]any) (any, string, error) {
	eff, err := r.inputPath(st, raw, ctxObj)
	if err != nil {
		return nil, "", err
	}
	next := ""
	for _, rule := range st.choices {
		ok, err := rule.eval(eff, ctxObj)
		if err != nil {
			return nil, "", err
		}
		if ok {
			next = rule.next
			break
		}
	}
	if next == "" {
		next = st.defaultNext
	}
	if next == "" {
		return nil, "", &stateError{Name: ErrNoChoiceMatched, Cause: fmt.Sprintf("No Matches! (state %q has no Default)", st.name)}
	}
	out, err := r.outputPath(st, eff, ctxObj)
	return out, next, err
}

func (r *runner) runWait(ctx context.Context, th *thread, st *state, raw any, ctxObj map[string]any) (any, error) {
	eff, err := r.inputPath(st, raw, ctxObj)
	if err != nil {
		return nil, err
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
		if !ok || !isNum || !isInteger(f) || f < 0 {
			return nil, &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("The SecondsPath parameter '%s' does not reference a non-negative integer in the input '%s'", st.waitSecondsPath.raw, encodeJSON(eff))}
		}
		d = time.Duration(f) * time.Second
	case st.waitTimestampPath != nil:
		v, ok := st.waitTimestampPath.get(eff, ctxObj)
		s, _ := v.(string)
		t, perr := parseTimestamp(s)
		if !ok || perr != nil {
			return nil, &stateError{Name: ErrRuntime, Cause: fmt.Sprintf("The TimestampPath parameter '%s' does not reference a valid ISO-8601 timestamp in the input '%s'", st.waitTimestampPath.raw, encodeJSON(eff))}
		}
		d = t.Sub(r.clock.Now())
	}
	if d > 0 {
		if err := r.clock.Sleep(ctx, d); err != nil {
			r.recordAborted(th, st)
			return nil, err
		}
	} else if err := ctx.Err(); err != nil {
		return nil, err
	}
	return r.outputPath(st, eff, ctxObj)
}

// recordAborted records <Type>StateAborted when the execution is being stopped.
func (r *runner) recordAborted(th *thread, st *state) {
	if r.parent.Err() != nil {
		th.add(st.typ+"StateAborted", nil)
	}
}

// runWithRetry runs a Task, Parallel or Map state with its Retry and Catch.
// flushFailedEvent records a pending MapStateFailed/ParallelStateFailed.
func (th *thread) flushFailedEvent() {
	if th.failedEvent != "" {
		th.add(th.failedEvent, nil)
		th.failedEvent = ""
	}
}

func (r *runner) runWithRetry(ctx context.Context, th *thread, st *state, raw any, rawText string, entered time.Time) (any, string, string, error) {
	attempts := make([]int, len(st.retry))
	retryCount := 0
	for {
		ctxObj := r.contextFor(st, entered, retryCount)
		var (
			out   any
			known string // out's JSON text, when already at hand
			err   error
		)
		switch st.typ {
		case "Task":
			out, known, err = r.runTask(ctx, th, st, raw, rawText, ctxObj)
		case "Parallel":
			out, err = r.runParallel(ctx, th, st, raw, ctxObj)
		case "Map":
			out, err = r.runMap(ctx, th, st, raw, ctxObj)
		}
		if err == nil {
			text, err := r.exitText(th, st, out, known)
			if err != nil {
				return nil, "", "", err
			}
			return out, text, st.next, nil
		}
		var se *stateError
		if !errors.As(err, &se) {
			r.recordAborted(th, st)
			return nil, "", "", err // cancelled
		}
		if se.terminal() {
			th.flushFailedEvent()
			return nil, "", "", se
		}
		if i, ok := pickRetrier(st.retry, se.Name); ok && attempts[i] < st.retry[i].maxAttempts {
			th.failedEvent = ""
			delay := r.retryDelay(st.retry[i], attempts[i])
			attempts[i]++
			retryCount++
			if err := r.clock.Sleep(ctx, delay); err != nil {
				r.recordAborted(th, st)
				return nil, "", "", err
			}
			continue
		}
		th.flushFailedEvent()
		for _, c := range st.catch {
			if !matchesError(c.errorEquals, se.Name) {
				continue
			}
			errOut := map[string]any{"Error": se.Name, "Cause": se.Cause}
			out, err := applyResultPath(c.resultPath, raw, errOut)
			if err != nil {
				return nil, "", "", err
			}
			text, err := r.exit(th, st, out)
			if err != nil {
				return nil, "", "", err
			}
			return out, text, c.next, nil
		}
		return nil, "", "", se
	}
}
