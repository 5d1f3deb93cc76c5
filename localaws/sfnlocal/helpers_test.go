package sfnlocal

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var testStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	testExecArn = "arn:aws:states:eu-west-1:123456789012:execution:rotate:exec-1"
	testSMArn   = "arn:aws:states:eu-west-1:123456789012:stateMachine:rotate"
	testLambda  = "arn:aws:lambda:eu-west-1:123456789012:function:createkey"
)

// echo returns the task input as its result.
var echo = TaskInvokerFunc(func(_ context.Context, req TaskRequest) (json.RawMessage, error) {
	return req.Input, nil
})

type runOpt func(*Options)

func mustParse(t testing.TB, def string) *StateMachine {
	t.Helper()
	sm, err := Parse([]byte(def))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return sm
}

// runDef runs a definition in virtual time with a seeded rand.
func runDef(t testing.TB, def, input string, tasks TaskInvoker, opts ...runOpt) (*Execution, *VirtualClock) {
	t.Helper()
	clock := NewVirtualClock(testStart)
	o := Options{
		Tasks: tasks, Clock: clock, ExecutionArn: testExecArn, StateMachineArn: testSMArn,
		Name: "exec-1", RoleArn: "arn:aws:iam::123456789012:role/sfn",
		Rand: rand.New(rand.NewPCG(1, 2)),
	}
	for _, f := range opts {
		f(&o)
	}
	return Run(context.Background(), mustParse(t, def), json.RawMessage(input), o), clock
}

func eventTypes(ex *Execution) []string {
	var out []string
	for _, e := range ex.History {
		out = append(out, e.Type)
	}
	return out
}

// countEvents counts the events of type typ in the execution's history.
func countEvents(ex *Execution, typ string) int {
	n := 0
	for _, e := range ex.History {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// jsonEq compares JSON texts semantically.
func jsonEq(t testing.TB, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("output %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %q is not JSON: %v", want, err)
	}
	if !deepEqual(g, w) {
		t.Fatalf("output = %s, want %s", got, want)
	}
}

func wantStatus(t testing.TB, ex *Execution, status string) {
	t.Helper()
	if ex.Status != status {
		t.Fatalf("status = %s (error %q, cause %q), want %s; events %v", ex.Status, ex.Error, ex.Cause, status, eventTypes(ex))
	}
}

func wantFailed(t testing.TB, ex *Execution, errName, causePart string) {
	t.Helper()
	wantStatus(t, ex, StatusFailed)
	if ex.Error != errName || !strings.Contains(ex.Cause, causePart) {
		t.Fatalf("failed with %q / %q, want %q / containing %q", ex.Error, ex.Cause, errName, causePart)
	}
}

// pass wraps one Pass state's fields into a one-state machine.
func pass(fields string) string {
	return `{"StartAt":"P","States":{"P":{"Type":"Pass",` + fields + `,"End":true}}}`
}

type (
	ctxT = context.Context
	rawT = json.RawMessage
)

func mustField(t testing.TB, raw json.RawMessage, key string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s is not an object: %v", raw, err)
	}
	return m[key]
}
