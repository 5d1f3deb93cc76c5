package sfnlocal

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// at names a state (or task call) and the virtual second it happened at: "Breaks@1".
func at(name string, ts time.Time) string {
	return fmt.Sprintf("%s@%g", name, ts.Sub(testStart).Seconds())
}

// timeline lists the states entered with their virtual seconds, and "end@N" for the
// execution's end, ordered by time and then name (states entered at one instant by
// concurrent branches may be recorded in any order).
func timeline(ex *Execution) []string {
	type entry struct {
		ts   time.Time
		name string
	}
	var es []entry
	for _, e := range ex.History {
		if d, ok := e.Details.(*StateEnteredEventDetails); ok {
			es = append(es, entry{e.Timestamp, d.Name})
		}
	}
	es = append(es, entry{ex.StopDate, "end"})
	slices.SortStableFunc(es, func(a, b entry) int {
		if c := a.ts.Compare(b.ts); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = at(e.name, e.ts)
	}
	return out
}

// recordingTasks records each task call with its virtual time. Breaks and Doomed always
// fail, Flaky fails its first two calls, Done fails with an input with "fail": true; the
// rest echo.
type recordingTasks struct {
	clock *VirtualClock
	mu    sync.Mutex
	calls []string
	flaky int
}

func (rt *recordingTasks) InvokeTask(_ context.Context, req TaskRequest) (json.RawMessage, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.calls = append(rt.calls, at(req.StateName, rt.clock.Now()))
	var in struct{ Fail bool }
	_ = json.Unmarshal(req.Input, &in)
	switch {
	case req.StateName == "Breaks" || req.StateName == "Doomed" || in.Fail && req.StateName == "Done":
		return nil, NewTaskFailure("Broken", "state "+req.StateName+" fails")
	case req.StateName == "Flaky":
		if rt.flaky++; rt.flaky < 3 {
			return nil, NewTaskFailure("Flaky", "not yet")
		}
	}
	return req.Input, nil
}

func (rt *recordingTasks) sortedCalls() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := slices.Clone(rt.calls)
	slices.SortStableFunc(out, func(a, b string) int {
		ta, tb := a[strings.IndexByte(a, '@'):], b[strings.IndexByte(b, '@'):]
		if len(ta) != len(tb) {
			return len(ta) - len(tb)
		}
		if c := strings.Compare(ta, tb); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return out
}

const (
	vtLambda = `"Type":"Task","Resource":"` + testLambda + `"`
	napPath  = `"Type":"Wait","SecondsPath":"$.s"`
)

// On a virtual clock, concurrent branches and iterations run as they would in real time: a
// sleeper wakes only once every sibling has done what it does before that instant, and time
// moves to the earliest sleeper first.
func TestVirtualTimeOrdersConcurrentBranchesAndIterations(t *testing.T) {
	cases := []struct {
		name, def, input string
		status           string
		timeline         []string // states entered, by virtual second
		calls            []string // task calls, by virtual second
	}{
		{"parallel: a branch that waits and fails lets its sibling's work at 0 s happen",
			`{"StartAt":"Par","States":{"Par":{"Type":"Parallel","Branches":[
			  {"StartAt":"Ok","States":{"Ok":{"Type":"Pass","Next":"Work"},"Work":{` + vtLambda + `,"End":true}}},
			  {"StartAt":"Slow","States":{"Slow":{"Type":"Wait","Seconds":1,"Next":"Breaks"},"Breaks":{` + vtLambda + `,"End":true}}}],
			  "Catch":[{"ErrorEquals":["States.ALL"],"Next":"Later"}],"Next":"Later"},"Later":{"Type":"Pass","End":true}}}`, `{}`,
			StatusSucceeded,
			[]string{"Ok@0", "Par@0", "Slow@0", "Work@0", "Breaks@1", "Later@1", "end@1"},
			[]string{"Work@0", "Breaks@1"}},
		{"parallel: a sibling still sleeping when a branch fails is stopped",
			`{"StartAt":"Par","States":{"Par":{"Type":"Parallel","End":true,"Branches":[
			  {"StartAt":"Slow","States":{"Slow":{"Type":"Wait","Seconds":1,"Next":"Breaks"},"Breaks":{` + vtLambda + `,"End":true}}},
			  {"StartAt":"Work","States":{"Work":{` + vtLambda + `,"Next":"Nap"},"Nap":{"Type":"Wait","Seconds":5,"Next":"After"},"After":{` + vtLambda + `,"End":true}}}]}}}`, `{}`,
			StatusFailed,
			[]string{"Nap@0", "Par@0", "Slow@0", "Work@0", "Breaks@1", "end@1"},
			[]string{"Work@0", "Breaks@1"}},
		{"parallel: a sibling's work due before the failure happens",
			`{"StartAt":"Par","States":{"Par":{"Type":"Parallel","End":true,"Branches":[
			  {"StartAt":"Slow","States":{"Slow":{"Type":"Wait","Seconds":5,"Next":"Breaks"},"Breaks":{` + vtLambda + `,"End":true}}},
			  {"StartAt":"Work","States":{"Work":{` + vtLambda + `,"Next":"Nap"},"Nap":{"Type":"Wait","Seconds":2,"Next":"After"},"After":{` + vtLambda + `,"End":true}}}]}}}`, `{}`,
			StatusFailed,
			[]string{"Nap@0", "Par@0", "Slow@0", "Work@0", "After@2", "Breaks@5", "end@5"},
			[]string{"Work@0", "After@2", "Breaks@5"}},
		{"map with MaxConcurrency 1 runs sleeping items one after another",
			`{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":1,"End":true,"ItemProcessor":{"StartAt":"Nap","States":{
			  "Nap":{` + napPath + `,"Next":"Done"},"Done":{` + vtLambda + `,"End":true}}}}}}`, `[{"s":3},{"s":1},{"s":2}]`,
			StatusSucceeded,
			[]string{"M@0", "Nap@0", "Done@3", "Nap@3", "Done@4", "Nap@4", "Done@6", "end@6"},
			[]string{"Done@3", "Done@4", "Done@6"}},
		{"map with MaxConcurrency 2 starts the next item when a slot frees",
			`{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":2,"End":true,"ItemProcessor":{"StartAt":"Nap","States":{
			  "Nap":{` + napPath + `,"Next":"Done"},"Done":{` + vtLambda + `,"End":true}}}}}}`, `[{"s":3},{"s":1},{"s":2}]`,
			StatusSucceeded,
			[]string{"M@0", "Nap@0", "Nap@0", "Done@1", "Nap@1", "Done@3", "Done@3", "end@3"},
			[]string{"Done@1", "Done@3", "Done@3"}},
		{"map with MaxConcurrency 1 starts no item after one fails",
			`{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":1,"End":true,"ItemProcessor":{"StartAt":"Nap","States":{
			  "Nap":{` + napPath + `,"Next":"Done"},"Done":{` + vtLambda + `,"End":true}}}}}}`, `[{"s":1},{"s":1,"fail":true},{"s":1}]`,
			StatusFailed,
			[]string{"M@0", "Nap@0", "Done@1", "Nap@1", "Done@2", "end@2"},
			[]string{"Done@1", "Done@2"}},
		{"map: an iteration failing later does not hide earlier iterations",
			`{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemProcessor":{"StartAt":"Check","States":{
			  "Check":{` + vtLambda + `,"Next":"Nap"},"Nap":{` + napPath + `,"Next":"Done"},"Done":{` + vtLambda + `,"End":true}}}}}}`,
			`[{"s":0},{"s":0},{"s":1,"fail":true}]`,
			StatusFailed,
			[]string{"Check@0", "Check@0", "Check@0", "Done@0", "Done@0", "M@0", "Nap@0", "Nap@0", "Nap@0", "Done@1", "end@1"},
			[]string{"Check@0", "Check@0", "Check@0", "Done@0", "Done@0", "Done@1"}},
		{"parallel in map: the branches of every iteration interleave in time",
			`{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemProcessor":{"StartAt":"Par","States":{"Par":{"Type":"Parallel","End":true,"Branches":[
			  {"StartAt":"Nap","States":{"Nap":{` + napPath + `,"Next":"Done"},"Done":{` + vtLambda + `,"End":true}}},
			  {"StartAt":"Quick","States":{"Quick":{` + vtLambda + `,"End":true}}}]}}}}}}`, `[{"s":2},{"s":1}]`,
			StatusSucceeded,
			[]string{"M@0", "Nap@0", "Nap@0", "Par@0", "Par@0", "Quick@0", "Quick@0", "Done@1", "Done@2", "end@2"},
			[]string{"Quick@0", "Quick@0", "Done@1", "Done@2"}},
		{"parallel in map: a failing iteration stops the other's later work",
			`{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemProcessor":{"StartAt":"Par","States":{"Par":{"Type":"Parallel","End":true,"Branches":[
			  {"StartAt":"Nap","States":{"Nap":{` + napPath + `,"Next":"Done"},"Done":{` + vtLambda + `,"End":true}}},
			  {"StartAt":"Quick","States":{"Quick":{` + vtLambda + `,"End":true}}}]}}}}}}`, `[{"s":2},{"s":1,"fail":true}]`,
			StatusFailed,
			[]string{"M@0", "Nap@0", "Nap@0", "Par@0", "Par@0", "Quick@0", "Quick@0", "Done@1", "end@1"},
			[]string{"Quick@0", "Quick@0", "Done@1"}},
		{"retry backoffs of siblings interleave; the failing sibling stops the other mid-backoff",
			`{"StartAt":"Par","States":{"Par":{"Type":"Parallel","End":true,"Branches":[
			  {"StartAt":"Flaky","States":{"Flaky":{` + vtLambda + `,"Retry":[{"ErrorEquals":["Flaky"],"IntervalSeconds":1,"BackoffRate":2,"MaxAttempts":3}],"End":true}}},
			  {"StartAt":"Doomed","States":{"Doomed":{` + vtLambda + `,"Retry":[{"ErrorEquals":["Broken"],"IntervalSeconds":2,"MaxAttempts":1}],"End":true}}}]}}}`, `{}`,
			StatusFailed,
			[]string{"Doomed@0", "Flaky@0", "Par@0", "end@2"},
			[]string{"Doomed@0", "Flaky@0", "Flaky@1", "Doomed@2"}},
		{"retry backoffs of siblings interleave; the retried sibling succeeds before the other fails",
			`{"StartAt":"Par","States":{"Par":{"Type":"Parallel","End":true,"Branches":[
			  {"StartAt":"Flaky","States":{"Flaky":{` + vtLambda + `,"Retry":[{"ErrorEquals":["Flaky"],"IntervalSeconds":1,"BackoffRate":2,"MaxAttempts":3}],"End":true}}},
			  {"StartAt":"Doomed","States":{"Doomed":{` + vtLambda + `,"Retry":[{"ErrorEquals":["Broken"],"IntervalSeconds":5,"MaxAttempts":1}],"End":true}}}]}}}`, `{}`,
			StatusFailed,
			[]string{"Doomed@0", "Flaky@0", "Par@0", "end@5"},
			[]string{"Doomed@0", "Flaky@0", "Flaky@1", "Flaky@3", "Doomed@5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Several runs: the order must not depend on how the goroutines are scheduled.
			for run := range 20 {
				clock := NewVirtualClock(testStart)
				tasks := &recordingTasks{clock: clock}
				ex, _ := runDef(t, tc.def, tc.input, tasks, withClock(clock))
				if ex.Status != tc.status {
					t.Fatalf("run %d: status %s (%s: %s), want %s; timeline %v", run, ex.Status, ex.Error, ex.Cause, tc.status, timeline(ex))
				}
				if got := timeline(ex); !slices.Equal(got, tc.timeline) {
					t.Fatalf("run %d: states entered\n got %v\nwant %v", run, got, tc.timeline)
				}
				if got := tasks.sortedCalls(); !slices.Equal(got, tc.calls) {
					t.Fatalf("run %d: task calls\n got %v\nwant %v", run, got, tc.calls)
				}
			}
		})
	}
}

// awaitSleepers returns once n workers sleep on c. It polls: the clock has no hook for it.
func awaitSleepers(t *testing.T, c *VirtualClock, n int) {
	t.Helper()
	give := time.Now().Add(30 * time.Second)
	for {
		c.mu.Lock()
		k := len(c.sleepers)
		c.mu.Unlock()
		if k >= n {
			return
		}
		if time.Now().After(give) {
			t.Fatalf("%d workers sleep on the clock after 30 s, want %d", k, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// runAsync starts a run and returns a func that waits for it (failing the test, rather than
// hanging, should the clock have deadlocked).
func runAsync(t *testing.T, ctx context.Context, def, input string, o Options) func() *Execution {
	t.Helper()
	sm := mustParse(t, def)
	done := make(chan *Execution, 1)
	go func() { done <- Run(ctx, sm, rawT(input), o) }()
	return func() *Execution {
		t.Helper()
		select {
		case ex := <-done:
			return ex
		case <-time.After(60 * time.Second):
			t.Fatal("the run did not end within 60 s: the virtual clock is deadlocked")
			return nil
		}
	}
}

// wantClockUsable runs a 10 s Wait on c: it ends 10 s later only if no worker is still
// counted from earlier runs.
func wantClockUsable(t *testing.T, c *VirtualClock) {
	t.Helper()
	from := c.Now()
	ex := runAsync(t, context.Background(), `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":10,"End":true}}}`, `{}`, Options{Clock: c})()
	wantStatus(t, ex, StatusSucceeded)
	if got := ex.StopDate.Sub(from); got != 10*time.Second {
		t.Errorf("a 10 s Wait afterwards took %v", got)
	}
}

// Two runs share one clock: one run's task works in real time (~50 ms) while the other
// sleeps an hour. Time stands still under the work, then moves, and both finish.
func TestRunsSharingAVirtualClockWaitForEachOthersWork(t *testing.T) {
	clock := NewVirtualClock(testStart)
	working := make(chan struct{})
	var sawDuringWork time.Time
	tasks := TaskInvokerFunc(func(ctx context.Context, req TaskRequest) (rawT, error) {
		switch req.StateName {
		case "Mark": // the other run goes to sleep once the work has begun
			<-working
		case "Work":
			close(working)
			time.Sleep(50 * time.Millisecond) // real work, while the other run sleeps
			sawDuringWork = clock.Now()
		}
		return rawT(`{}`), nil
	})
	for _, timeout := range []string{``, `"TimeoutSeconds":10,`} { // inline invoker, and one on its own goroutine
		t.Run("task "+timeout, func(t *testing.T) {
			clock = NewVirtualClock(testStart)
			working = make(chan struct{})
			worker := runAsync(t, context.Background(), `{"StartAt":"Work","States":{"Work":{`+vtLambda+`,`+timeout+`"End":true}}}`, `{}`,
				Options{Tasks: tasks, Clock: clock})
			sleeper := runAsync(t, context.Background(), `{"StartAt":"Mark","States":{"Mark":{`+vtLambda+`,"Next":"Nap"},
			  "Nap":{"Type":"Wait","Seconds":3600,"Next":"Wake"},"Wake":{"Type":"Pass","End":true}}}`, `{}`,
				Options{Tasks: tasks, Clock: clock})
			w, s := worker(), sleeper()
			wantStatus(t, w, StatusSucceeded)
			wantStatus(t, s, StatusSucceeded)
			if !sawDuringWork.Equal(testStart) || !w.StopDate.Equal(testStart) {
				t.Errorf("the working run saw %v during its task and ended at %v, want time to stand still at %v", sawDuringWork, w.StopDate, testStart)
			}
			if got := s.StopDate.Sub(testStart); got != time.Hour {
				t.Errorf("the sleeping run ended after %v, want 1h", got)
			}
			wantClockUsable(t, clock)
		})
	}
}

// Stopping a run or its TimeoutSeconds while its workers sleep ends it at that instant, and
// leaves the clock usable.
func TestStopDuringVirtualSleep(t *testing.T) {
	cases := []struct {
		name, def string
		sleepers  int  // workers asleep before the stop
		stop      bool // cancel the run's context (else its TimeoutSeconds ends it)
		status    string
		after     time.Duration // when the run ends
		aborted   int           // WaitStateAborted events
	}{
		{"stop while every branch sleeps", `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
			{"StartAt":"A","States":{"A":{"Type":"Wait","Seconds":3600,"End":true}}},{"StartAt":"B","States":{"B":{"Type":"Wait","Seconds":60,"End":true}}}]}}}`,
			2, true, StatusAborted, 0, 2},
		{"stop while one branch sleeps and the other works", `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
			{"StartAt":"A","States":{"A":{"Type":"Wait","Seconds":3600,"End":true}}},{"StartAt":"Block","States":{"Block":{` + vtLambda + `,"End":true}}}]}}}`,
			1, true, StatusAborted, 0, 1},
		{"TimeoutSeconds while map iterations sleep", `{"StartAt":"M","TimeoutSeconds":30,"States":{"M":{"Type":"Map","End":true,
			"ItemProcessor":{"StartAt":"Nap","States":{"Nap":{` + napPath + `,"End":true}}}}}}`,
			0, false, StatusTimedOut, 30 * time.Second, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := NewVirtualClock(testStart)
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			tasks := TaskInvokerFunc(func(ctx context.Context, req TaskRequest) (rawT, error) {
				<-ctx.Done() // works until stopped
				return nil, ctx.Err()
			})
			// The test holds the clock as other work on it would (another run's task):
			// with nothing else to do, time would move past every Wait at once.
			release := Hold(clock)
			wait := runAsync(t, ctx, tc.def, `[{"s":3600},{"s":40}]`, Options{Tasks: tasks, Clock: clock})
			if tc.stop {
				awaitSleepers(t, clock, tc.sleepers)
				cancel(Stop("Operator", "stopped while asleep"))
			}
			release()
			ex := wait()
			wantStatus(t, ex, tc.status)
			if got := ex.StopDate.Sub(testStart); got != tc.after {
				t.Errorf("ended after %v, want %v", got, tc.after)
			}
			if n := countEvents(ex, "WaitStateAborted"); n != tc.aborted {
				t.Errorf("%d WaitStateAborted events, want %d: %v", n, tc.aborted, eventTypes(ex))
			}
			wantClockUsable(t, clock)
		})
	}
}

// A task invoker may run a child execution on the same clock with its task's context and
// wait for it: the child runs in the task's turn, its Waits pass.
func TestChildRunInATasksTurn(t *testing.T) {
	clock := NewVirtualClock(testStart)
	child := mustParse(t, `{"StartAt":"Nap","States":{"Nap":{"Type":"Wait","Seconds":60,"Next":"Done"},"Done":{"Type":"Pass","End":true}}}`)
	var childEx *Execution
	tasks := TaskInvokerFunc(func(ctx context.Context, req TaskRequest) (rawT, error) {
		childEx = Run(ctx, child, rawT(`{}`), Options{Clock: clock})
		return rawT(`"child done"`), nil
	})
	ex := runAsync(t, context.Background(), `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
	  {"StartAt":"Start","States":{"Start":{`+vtLambda+`,"End":true}}},{"StartAt":"Nap","States":{"Nap":{"Type":"Wait","Seconds":30,"End":true}}}]}}}`, `{}`,
		Options{Tasks: tasks, Clock: clock})()
	wantStatus(t, ex, StatusSucceeded)
	wantStatus(t, childEx, StatusSucceeded)
	if got := childEx.StopDate.Sub(testStart); got != time.Minute {
		t.Errorf("child ended after %v, want 1m", got)
	}
	if got := ex.StopDate.Sub(testStart); got != time.Minute {
		t.Errorf("parent ended after %v, want 1m", got)
	}
}

// Hold keeps time still for a caller outside any run until it lets go.
func TestHoldKeepsVirtualTimeStill(t *testing.T) {
	clock := NewVirtualClock(testStart)
	release := Hold(clock)
	wait := runAsync(t, context.Background(), `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":10,"End":true}}}`, `{}`, Options{Clock: clock})
	awaitSleepers(t, clock, 1)
	if now := clock.Now(); !now.Equal(testStart) {
		t.Errorf("time moved to %v while held", now)
	}
	release()
	release() // a second call changes nothing
	ex := wait()
	wantStatus(t, ex, StatusSucceeded)
	if got := ex.StopDate.Sub(testStart); got != 10*time.Second {
		t.Errorf("ended after %v, want 10s", got)
	}
	wantClockUsable(t, clock)
	Hold(RealClock())() // other clocks: nothing to hold
	Idle(context.Background())()
}
