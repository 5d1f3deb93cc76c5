package sfnlocal

import (
	"context"
	"sort"
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

// VirtualClock is a clock whose time only moves when something sleeps on it (or Advance is
// called). Sleep returns at once after moving Now forward, firing any timers that fall due on
// the way, so Waits, backoffs and timeouts cost no real time.
type VirtualClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int64
	timers map[int64]*vtimer
	slept  time.Duration
}

type vtimer struct {
	at  time.Time
	seq int64
	f   func()
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

// Sleep moves virtual time to at least Now()+d. Concurrent sleepers share the timeline: two
// branches that each sleep 10s from the same instant end 10s later, not 20s. Timers due on
// the way fire in order; if one of them cancels ctx, Sleep stops at that instant.
func (c *VirtualClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d < 0 {
		d = 0
	}
	c.mu.Lock()
	c.slept += d
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		next := c.dueLocked(target)
		if next == nil {
			if target.After(c.now) {
				c.now = target
			}
			c.mu.Unlock()
			return nil
		}
		delete(c.timers, next.seq)
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// Advance moves virtual time forward by d, firing due timers.
func (c *VirtualClock) Advance(d time.Duration) {
	_ = c.Sleep(context.Background(), d)
}

func (c *VirtualClock) dueLocked(target time.Time) *vtimer {
	var due []*vtimer
	for _, t := range c.timers {
		if !t.at.After(target) {
			due = append(due, t)
		}
	}
	if len(due) == 0 {
		return nil
	}
	sort.Slice(due, func(i, j int) bool {
		if due[i].at.Equal(due[j].at) {
			return due[i].seq < due[j].seq
		}
		return due[i].at.Before(due[j].at)
	})
	return due[0]
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
