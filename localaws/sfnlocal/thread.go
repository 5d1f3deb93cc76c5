package sfnlocal

import (
	"sync"
)

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
