package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// history builds events one second apart from compact specs: "Type" or "Type:Name-or-Error".
func history(specs ...string) []sfntypes.HistoryEvent {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var events []sfntypes.HistoryEvent
	for i, spec := range specs {
		typ, arg, _ := strings.Cut(spec, ":")
		ev := sfntypes.HistoryEvent{Id: int64(i + 1), Type: sfntypes.HistoryEventType(typ), Timestamp: aws.Time(start.Add(time.Duration(i) * time.Second))}
		switch {
		case strings.HasSuffix(typ, "StateEntered"):
			ev.StateEnteredEventDetails = &sfntypes.StateEnteredEventDetails{Name: aws.String(arg)}
		case strings.HasSuffix(typ, "StateExited"):
			ev.StateExitedEventDetails = &sfntypes.StateExitedEventDetails{Name: aws.String(arg)}
		case typ == "LambdaFunctionFailed":
			ev.LambdaFunctionFailedEventDetails = &sfntypes.LambdaFunctionFailedEventDetails{Error: aws.String(arg)}
		case typ == "ExecutionFailed":
			ev.ExecutionFailedEventDetails = &sfntypes.ExecutionFailedEventDetails{Error: aws.String(arg), Cause: aws.String("because")}
		case typ == "ExecutionSucceeded":
			ev.ExecutionSucceededEventDetails = &sfntypes.ExecutionSucceededEventDetails{Output: aws.String(`{"newAccessKeyId":"AKIANEW"}`)}
		}
		events = append(events, ev)
	}
	return events
}

func TestTimelineCountsRetriesTransitionsAndVerifyTime(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		events                   []sfntypes.HistoryEvent
		status                   string
		runs, transitions, calls int
		verifyRetries            int
		verifySeconds            float64
		lastSeconds              float64
	}{
		{
			name: "verify retried twice then success",
			events: history("ExecutionStarted",
				"TaskStateEntered:CreateKey", "LambdaFunctionScheduled", "LambdaFunctionSucceeded", "TaskStateExited:CreateKey",
				"TaskStateEntered:VerifyKey", "LambdaFunctionScheduled", "LambdaFunctionFailed:KeyNotYetValid",
				"LambdaFunctionScheduled", "LambdaFunctionFailed:KeyNotYetValid", "LambdaFunctionScheduled", "LambdaFunctionSucceeded",
				"TaskStateExited:VerifyKey", "SucceedStateEntered:Rotated", "SucceedStateExited:Rotated", "ExecutionSucceeded"),
			status: "SUCCEEDED", runs: 3, transitions: 5, calls: 4, verifyRetries: 2, verifySeconds: 8, lastSeconds: 1,
		},
		{
			name: "fail state is closed when the execution fails",
			events: history("ExecutionStarted",
				"TaskStateEntered:Begin", "LambdaFunctionScheduled", "LambdaFunctionFailed:UserNotFound", "TaskStateExited:Begin",
				"FailStateEntered:RotationRejected", "ExecutionFailed:UserNotFound"),
			status: "FAILED", runs: 2, transitions: 2, calls: 1, verifySeconds: -1, lastSeconds: 1,
		},
		{
			name:   "still running",
			events: history("ExecutionStarted", "TaskStateEntered:Begin", "LambdaFunctionScheduled"),
			status: "RUNNING", runs: 1, transitions: 1, calls: 1, verifySeconds: -1, lastSeconds: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := &timeline{}
			tl.add(tc.events)
			tl.add(tc.events) // a second poll of the same history changes nothing
			if tl.Status != tc.status || len(tl.Runs) != tc.runs || tl.transitions() != tc.transitions || tl.Invocations != tc.calls {
				t.Fatalf("status %s, %d runs, %d transitions, %d invocations; want %s, %d, %d, %d",
					tl.Status, len(tl.Runs), tl.transitions(), tl.Invocations, tc.status, tc.runs, tc.transitions, tc.calls)
			}
			if v := tl.run("VerifyKey"); v != nil && (v.Retries != tc.verifyRetries || countErrors(v.Errors) != "KeyNotYetValid ×2") {
				t.Errorf("VerifyKey: %d retries (%v), want %d", v.Retries, v.Errors, tc.verifyRetries)
			}
			if got := tl.verifySeconds(); got != tc.verifySeconds {
				t.Errorf("verify seconds %v, want %v", got, tc.verifySeconds)
			}
			if last := tl.Runs[len(tl.Runs)-1]; last.Seconds != tc.lastSeconds {
				t.Errorf("last state %s lasted %vs, want %vs", last.Name, last.Seconds, tc.lastSeconds)
			}
		})
	}
}

func TestParseSecondsAcceptsSecondsAndDurations(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		err  string
	}{
		{"0", 0, ""}, {"3600", 3600, ""}, {"90s", 90, ""}, {"15m", 900, ""}, {"1h30m", 5400, ""}, {"2d", 172800, ""},
		{"-1", 0, "between 0 and"}, {"8d", 0, "between 0 and"}, {"1.5s", 0, "whole seconds"}, {"soon", 0, "want seconds"}, {"xd", 0, "want seconds"},
	} {
		got, err := parseSeconds("grace", tc.in, 604800)
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("%q: got %d, %v; want %d", tc.in, got, err, tc.want)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: got %d, %v; want an error with %q", tc.in, got, err, tc.err)
		}
	}
}

func TestProgressPrintsDoneStatesOnceAndRedrawsOnlyTheRunningOneOnATerminal(t *testing.T) {
	events := history("ExecutionStarted",
		"TaskStateEntered:Begin", "LambdaFunctionScheduled", "LambdaFunctionSucceeded", "TaskStateExited:Begin",
		"TaskStateEntered:CreateKey", "LambdaFunctionScheduled")
	tl := &timeline{}
	tl.add(events)

	var lines bytes.Buffer
	p := &lineProgress{w: &lines}
	p.update(tl)
	p.update(tl)
	if got := lines.String(); strings.Count(got, "\n") != 1 || !strings.HasPrefix(got, "Begin ") || strings.Contains(got, "CreateKey") {
		t.Errorf("line progress printed %q; want Begin once and not the running CreateKey", got)
	}

	var screen bytes.Buffer
	s := &screenProgress{w: &screen}
	s.update(tl)
	s.update(tl)
	if got := screen.String(); strings.Contains(got, "\x1b[2A") || strings.Count(got, "CreateKey") != 2 || strings.Count(got, "✔ Begin") != 1 || !strings.Contains(got, "\r\x1b[K") {
		t.Errorf("screen progress should print Begin once and redraw only the running CreateKey on its line: %q", got)
	}
}

func TestAFailStateIsMarkedFailedAndAWaitSaysItsLengthAndEnd(t *testing.T) {
	tl := &timeline{}
	tl.add(history("ExecutionStarted", "FailStateEntered:RotationRejected", "ExecutionFailed"))
	var screen bytes.Buffer
	(&screenProgress{w: &screen}).update(tl)
	if got := screen.String(); !strings.Contains(got, "✘ RotationRejected") {
		t.Errorf("a Fail state must be marked ✘: %q", got)
	}

	grace := 5.0
	waits := map[string]waitSpec{"GraceWait": {SecondsPath: "$.graceSeconds"}, "Fixed": {Seconds: &grace}}
	for _, tc := range []struct {
		run  stateRun
		want string
	}{
		{stateRun{Name: "GraceWait", Entered: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), input: `{"graceSeconds":3600}`}, "waiting 1h0m0s, until 04:04:05Z"},
		{stateRun{Name: "Fixed", Entered: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, "waiting 5s, until 03:04:10Z"},
		{stateRun{Name: "GraceWait", Entered: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), input: `{"graceSeconds":60,"extensions":1}`}, "extension 1"},
		{stateRun{Name: "Begin"}, ""},
	} {
		if got := waitNote(&tc.run, waits); !strings.Contains(got, tc.want) || (tc.want == "" && got != "") {
			t.Errorf("waitNote(%s, %s) = %q; want it to contain %q", tc.run.Name, tc.run.input, got, tc.want)
		}
	}

	var lines bytes.Buffer
	lp := &lineProgress{w: &lines, waits: waits}
	tl = &timeline{}
	tl.add(history("ExecutionStarted", "WaitStateEntered:Fixed"))
	lp.update(tl)
	lp.update(tl)
	if got := lines.String(); strings.Count(got, "waiting 5s") != 1 {
		t.Errorf("without a terminal a Wait must be announced once when it starts: %q", got)
	}
}
