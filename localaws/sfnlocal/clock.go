package sfnlocal

import (
	"context"
	"sync"
	"time"
)

// Clock is the engine's source of time. Waits, retry backoffs and timeouts all go through it,
// so tests can run them in virtual time.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

// timerClock is implemented by clocks that can schedule a callback; the engine uses it for
// execution, task and heartbeat timeouts. Clocks without it fall back to real timers.
type timerClock interface {
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

// RealClock returns the wall clock.
func RealClock() Clock { return realClock{} }

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// VirtualClock is a clock whose time only moves when every piece of work running on it is
// waiting for time to pass (or Advance is called), so Waits, backoffs and timeouts cost no
// real time while concurrent work still happens in the order it would in real time.
//
// It is a discrete-event clock. Runs on it count their goroutines as workers: the execution's
// own, and each Parallel branch and Map iteration goroutine. A worker stops counting while it
// sleeps, or while it waits for its branches or iterations (which count instead), and a task
// invoker's real work (a Lambda call, an HTTP request) counts as its worker's: time stands
// still under it. When no worker counts any more, time moves to the earliest due timer or
// sleeper: timers fire in order, and every sleeper due at that instant wakes. So a branch
// that waits 1 s never runs ahead of a sibling that still has work to do at 0 s. One clock may
// serve many concurrent runs (an API server, a test fleet); time then moves only when all of
// them wait.
//
// Sleep from a context no run on this clock gave (a test's own goroutine) and Advance move
// time at once, as a wall clock jumping forward would, firing the timers and waking the
// sleepers due on the way.
type VirtualClock struct {
	mu       sync.Mutex
	now      time.Time
	seq      int64
	timers   map[int64]*vtimer
	sleepers []*sleeper
	active   int // workers that count: not sleeping, not waiting for other workers
	slept    time.Duration
}

type vtimer struct {
	at  time.Time
	seq int64
	f   func()
}

// sleeper is a worker blocked in Sleep until at.
type sleeper struct {
	at    time.Time
	seq   int64
	ctx   context.Context
	wake  chan struct{}
	woken bool // counted as active again (by its waker or by itself)
}

// NewVirtualClock returns a virtual clock that starts at start.
func NewVirtualClock(start time.Time) *VirtualClock {
	return &VirtualClock{now: start, timers: map[int64]*vtimer{}}
}

// Now returns the current virtual time.
func (c *VirtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Slept returns the total duration requested through Sleep (useful to assert backoffs).
func (c *VirtualClock) Slept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slept
}

// workerKey marks the contexts of runs on a VirtualClock: a Sleep with such a context comes
// from a counted worker (or a task invoker working for one).
type workerKey struct{}

// workClock is implemented by *VirtualClock (and clocks embedding it): the engine registers
// its workers with it.
type workClock interface {
	virtual() *VirtualClock
}

func (c *VirtualClock) virtual() *VirtualClock { return c }

// virtualOf returns the VirtualClock behind c, or nil.
func virtualOf(c Clock) *VirtualClock {
	if wc, ok := c.(workClock); ok {
		return wc.virtual()
	}
	return nil
}

// withWorker marks ctx as belonging to workers of c.
func (c *VirtualClock) withWorker(ctx context.Context) context.Context {
	return context.WithValue(ctx, workerKey{}, c)
}

// work adds delta workers (negative: they stop counting). When none counts any more, time
// moves on.
func (c *VirtualClock) work(delta int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.active += delta
	if delta < 0 {
		c.settleLocked()
	}
}

// Sleep waits until virtual time reaches Now()+d. A worker of a run on this clock gives up
// its turn: it wakes once every other worker waits too and no earlier timer or sleeper is
// due; concurrent sleepers share the timeline (two branches that each sleep 10 s from the
// same instant end 10 s later, not 20 s). If ctx ends first (a timer may end it), Sleep
// returns ctx's error at that instant. Sleep with any other context moves time at once.
func (c *VirtualClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d < 0 {
		d = 0
	}
	if w, _ := ctx.Value(workerKey{}).(*VirtualClock); w != c {
		c.mu.Lock()
		c.slept += d
		c.mu.Unlock()
		return c.advance(ctx, d)
	}
	c.mu.Lock()
	c.slept += d
	c.seq++
	s := &sleeper{at: c.now.Add(d), seq: c.seq, ctx: ctx, wake: make(chan struct{})}
	c.sleepers = append(c.sleepers, s)
	c.active--
	c.settleLocked()
	c.mu.Unlock()
	select {
	case <-s.wake:
		return ctx.Err() // nil, unless a timer on the way ended ctx
	case <-ctx.Done():
		c.mu.Lock()
		if !s.woken {
			c.removeSleeperLocked(s)
			s.woken = true
			c.active++
		}
		c.mu.Unlock()
		return ctx.Err()
	}
}

// Advance moves virtual time forward by d at once, firing the timers and waking the
// sleepers due on the way, in order. It does not wait for workers (a test moves time under
// a task that never ends this way).
func (c *VirtualClock) Advance(d time.Duration) {
	_ = c.advance(context.Background(), d)
}

// advance is Advance that stops early when a timer on the way ends ctx.
func (c *VirtualClock) advance(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	target := c.now.Add(d)
	for {
		at, ok := c.nextLocked()
		if !ok || at.After(target) {
			break
		}
		if fired := c.stepLocked(at); fired {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	if target.After(c.now) {
		c.now = target
	}
	return nil
}

// settleLocked moves time on while no worker counts: sleepers whose context has ended
// count again first; then the earliest event is handled, until some worker counts or
// nothing is due.
func (c *VirtualClock) settleLocked() {
	for c.active <= 0 {
		if c.wakeCancelledLocked() {
			return
		}
		at, ok := c.nextLocked()
		if !ok {
			return
		}
		c.stepLocked(at)
	}
}

// wakeCancelledLocked wakes the sleepers whose context has ended (a timer or a stop ended
// it) and reports whether there were any.
func (c *VirtualClock) wakeCancelledLocked() bool {
	found := false
	kept := c.sleepers[:0]
	for _, s := range c.sleepers {
		if s.ctx.Err() == nil {
			kept = append(kept, s)
			continue
		}
		found = true
		c.wakeLocked(s)
	}
	clear(c.sleepers[len(kept):])
	c.sleepers = kept
	return found
}

func (c *VirtualClock) wakeLocked(s *sleeper) {
	s.woken = true
	c.active++
	close(s.wake)
}

func (c *VirtualClock) removeSleeperLocked(s *sleeper) {
	for i, x := range c.sleepers {
		if x == s {
			c.sleepers = append(c.sleepers[:i], c.sleepers[i+1:]...)
			return
		}
	}
}

// nextLocked returns the instant of the earliest timer or sleeper.
func (c *VirtualClock) nextLocked() (time.Time, bool) {
	var next time.Time
	ok := false
	for _, t := range c.timers {
		if !ok || t.at.Before(next) {
			next, ok = t.at, true
		}
	}
	for _, s := range c.sleepers {
		if !ok || s.at.Before(next) {
			next, ok = s.at, true
		}
	}
	return next, ok
}

// stepLocked moves time to at (the earliest event) and handles what is due then: the
// earliest timer (timers go first, in the order they were set), or else every sleeper due,
// in the order they went to sleep. It reports whether a timer fired; c.mu is released while
// its callback runs, during which the callback counts as a worker.
func (c *VirtualClock) stepLocked(at time.Time) bool {
	if at.After(c.now) {
		c.now = at
	}
	var due *vtimer
	for _, t := range c.timers {
		if !t.at.After(c.now) && (due == nil || t.at.Before(due.at) || t.at.Equal(due.at) && t.seq < due.seq) {
			due = t
		}
	}
	if due != nil {
		delete(c.timers, due.seq)
		c.active++
		c.mu.Unlock()
		due.f()
		c.mu.Lock()
		c.active--
		return true
	}
	kept := c.sleepers[:0]
	var wake []*sleeper
	for _, s := range c.sleepers {
		if s.at.After(c.now) {
			kept = append(kept, s)
		} else {
			wake = append(wake, s)
		}
	}
	clear(c.sleepers[len(kept):])
	c.sleepers = kept
	for _, s := range wake { // in seq order: the slice keeps the order of Sleep calls
		c.wakeLocked(s)
	}
	return false
}

// AfterFunc runs f once virtual time reaches Now()+d.
func (c *VirtualClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	id := c.seq
	c.timers[id] = &vtimer{at: c.now.Add(d), seq: id, f: f}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.timers[id]
		delete(c.timers, id)
		return ok
	}
}

func afterFunc(c Clock, d time.Duration, f func()) func() bool {
	if tc, ok := c.(timerClock); ok {
		return tc.AfterFunc(d, f)
	}
	return time.AfterFunc(d, f).Stop
}

// Hold counts one more piece of work on c until release is called: a VirtualClock does not
// move time on meanwhile. A caller that starts a Run from another goroutine holds the clock
// until the run has begun (its first event), so time cannot slip by in between. release may
// be called more than once. Other clocks ignore Hold.
func Hold(c Clock) (release func()) {
	vc := virtualOf(c)
	if vc == nil {
		return func() {}
	}
	vc.work(1)
	var once sync.Once
	return func() { once.Do(func() { vc.work(-1) }) }
}

// Idle lets time on the VirtualClock of the run that gave ctx (a Task's context) move on
// while the task waits for other work on that clock — a child execution — rather than doing
// work of its own; resume counts it again. resume may be called more than once, also by the
// work being waited for, before it lets go of the clock itself, so that no instant slips by
// between the two. Outside a run on a VirtualClock, Idle does nothing.
func Idle(ctx context.Context) (resume func()) {
	vc, _ := ctx.Value(workerKey{}).(*VirtualClock)
	if vc == nil {
		return func() {}
	}
	vc.work(-1)
	var once sync.Once
	return func() { once.Do(func() { vc.work(1) }) }
}
