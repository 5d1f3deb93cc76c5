package sfnlocal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// AWS documents ToleratedFailure*, ItemReader, ItemBatcher, ResultWriter and Label for
// Distributed Map only (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html);
// an INLINE Map carrying one is refused at parse time, naming the field and the state's
// JSON pointer as AWS's SCHEMA_VALIDATION_FAILED messages do.
func TestInlineMapRefusesDistributedOnlyFields(t *testing.T) {
	fields := map[string]string{
		"ToleratedFailurePercentage":     `10`,
		"ToleratedFailurePercentagePath": `"$.pct"`,
		"ToleratedFailureCount":          `1`,
		"ToleratedFailureCountPath":      `"$.n"`,
		"ItemReader":                     `{"Resource":"arn:aws:states:::s3:getObject","Parameters":{"Bucket":"b","Key":"k"}}`,
		"ItemBatcher":                    `{"MaxItemsPerBatch":2}`,
		"ResultWriter":                   `{"Resource":"arn:aws:states:::s3:putObject","Parameters":{"Bucket":"b","Prefix":"p"}}`,
		"Label":                          `"fleet"`,
	}
	modes := map[string]string{
		"no ProcessorConfig":    ``,
		"Mode INLINE":           `"ProcessorConfig":{"Mode":"INLINE"},`,
		"Mode absent in config": `"ProcessorConfig":{},`,
	}
	for field, value := range fields {
		for modeName, config := range modes {
			t.Run(field+"/"+modeName, func(t *testing.T) {
				inner := `{"Type":"Map","End":true,"` + field + `":` + value + `,"ItemProcessor":{` + config + `"StartAt":"B","States":{"B":{"Type":"Succeed"}}}}`
				// Nested in a Parallel branch, so the pointer must walk down to it.
				def := `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[{"StartAt":"M","States":{"M":` + inner + `}}]}}}`
				_, err := Parse([]byte(def))
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("Parse error = %v, want a *ParseError", err)
				}
				want := "SCHEMA_VALIDATION_FAILED: The field '" + field + "' is supported only by a Map state in DISTRIBUTED mode"
				if !strings.HasPrefix(pe.AWSMessage(), want) || !strings.HasSuffix(pe.AWSMessage(), " at /States/P/Branches/0/States/M") {
					t.Errorf("AWSMessage = %q, want %q... at /States/P/Branches/0/States/M", pe.AWSMessage(), want)
				}
				if pe.Field != field || pe.State != "M" {
					t.Errorf("ParseError names state %q field %q, want M / %s", pe.State, pe.Field, field)
				}
			})
		}
	}
}

// An inline Map runs at most 40 iterations at once, whatever MaxConcurrency says
// (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html: "In this mode,
// the Map state supports up to 40 concurrent iterations").
func TestInlineMapRunsAtMost40IterationsAtOnce(t *testing.T) {
	for _, maxConc := range []string{`"MaxConcurrency":100,`, `"MaxConcurrency":0,`, ``} {
		t.Run(maxConc, func(t *testing.T) {
			var (
				mu            sync.Mutex
				inFlight, top int
				release       = make(chan struct{})
				once          sync.Once
			)
			// Each iteration holds its slot until 40 are running at once; then all go on. An
			// engine running more than 40 would show a higher top, one running fewer would
			// never release (the deadline fails the test).
			tasks := TaskInvokerFunc(func(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
				mu.Lock()
				inFlight++
				top = max(top, inFlight)
				if inFlight == inlineMapConcurrency {
					once.Do(func() { close(release) })
				}
				mu.Unlock()
				select {
				case <-release:
				case <-time.After(20 * time.Second):
					return nil, fmt.Errorf("fewer than %d iterations ran at once", inlineMapConcurrency)
				}
				mu.Lock()
				inFlight--
				mu.Unlock()
				return req.Input, nil
			})
			items := make([]string, 100)
			for i := range items {
				items[i] = fmt.Sprint(i)
			}
			def := `{"StartAt":"M","States":{"M":{"Type":"Map",` + maxConc + `"ItemProcessor":{"StartAt":"W","States":{"W":{"Type":"Task","Resource":"` + testLambda + `","End":true}}},"End":true}}}`
			ex := Run(context.Background(), mustParse(t, def), json.RawMessage("["+strings.Join(items, ",")+"]"),
				Options{Tasks: tasks, ExecutionArn: testExecArn, StateMachineArn: testSMArn})
			wantStatus(t, ex, StatusSucceeded)
			if top != inlineMapConcurrency {
				t.Errorf("at most %d iterations ran at once, want %d", top, inlineMapConcurrency)
			}
		})
	}
}

// A history reaching 25,000 events fails the execution with ExecutionFailed as event 25,000
// (https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html); a Catch cannot
// keep it alive and nothing is recorded after it. An execution whose event 25,000 is
// ExecutionSucceeded succeeds.
func TestHistoryQuotaFailsTheExecutionAtEvent25000(t *testing.T) {
	// Loop: Count (Pass) → Again (Choice) → Count ... each pass is 4 events; Done ends it.
	loop := func(rounds int) string {
		return fmt.Sprintf(`{"StartAt":"Count","States":{
			"Count":{"Type":"Pass","Parameters":{"n.$":"States.MathAdd($.n, 1)"},"Next":"Again"},
			"Again":{"Type":"Choice","Choices":[{"Variable":"$.n","NumericLessThan":%d,"Next":"Count"}],"Default":"Done"},
			"Done":{"Type":"Succeed"}}}`, rounds)
	}
	t.Run("a long loop fails at event 25,000", func(t *testing.T) {
		ex, _ := runDef(t, loop(100000), `{"n":0}`, nil)
		wantFailed(t, ex, ErrRuntime, "maximum number of history events (25000)")
		if len(ex.History) != MaxHistoryEvents {
			t.Fatalf("history has %d events, want %d", len(ex.History), MaxHistoryEvents)
		}
		last := ex.History[len(ex.History)-1]
		if last.Type != "ExecutionFailed" || last.ID != MaxHistoryEvents {
			t.Errorf("last event %s #%d, want ExecutionFailed #%d", last.Type, last.ID, MaxHistoryEvents)
		}
		if countEvents(ex, "ExecutionFailed") != 1 {
			t.Errorf("%d ExecutionFailed events, want 1", countEvents(ex, "ExecutionFailed"))
		}
	})
	t.Run("event 25,000 being ExecutionSucceeded succeeds", func(t *testing.T) {
		// ExecutionStarted, 4 events per round (Count and Again entered/exited), Done
		// entered/exited, ExecutionSucceeded: 1 + 4*6249 + 2 + 1 = 25,000.
		ex, _ := runDef(t, loop(6249), `{"n":0}`, nil)
		wantStatus(t, ex, StatusSucceeded)
		if last := ex.History[len(ex.History)-1]; len(ex.History) != MaxHistoryEvents || last.Type != "ExecutionSucceeded" {
			t.Fatalf("history has %d events ending %s, want %d ending ExecutionSucceeded", len(ex.History), last.Type, MaxHistoryEvents)
		}
		// One round more and event 25,000 is not ExecutionSucceeded.
		ex, _ = runDef(t, loop(6250), `{"n":0}`, nil)
		wantFailed(t, ex, ErrRuntime, "maximum number of history events")
	})
}

// A Standard execution ends TIMED_OUT with States.Timeout at one year on its clock, whatever
// its Waits ask for ("Step Functions service quotas": maximum execution time; the Wait state's
// page: one year is the longest wait of a Standard workflow); a shorter TimeoutSeconds ends it
// first, and a wait just under the year completes.
func TestStandardExecutionEndsAtOneYearOnItsClock(t *testing.T) {
	const year = MaxExecutionDuration
	cases := []struct {
		name, def, input string
		status           string
		after            time.Duration
		causePart        string
	}{
		{"Seconds at the ASL's maximum", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":99999999,"End":true}}}`, `{}`,
			StatusTimedOut, year, "one year"},
		{"SecondsPath beyond a year", `{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.s","End":true}}}`, `{"s":40000000}`,
			StatusTimedOut, year, "one year"},
		{"Timestamp three years ahead", `{"StartAt":"W","States":{"W":{"Type":"Wait","Timestamp":"2029-03-01T12:00:00Z","End":true}}}`, `{}`,
			StatusTimedOut, year, "one year"},
		{"TimeoutSeconds beyond a year does not extend it", `{"StartAt":"W","TimeoutSeconds":99999999,"States":{"W":{"Type":"Wait","Seconds":99999999,"End":true}}}`, `{}`,
			StatusTimedOut, year, "one year"},
		{"TimeoutSeconds under a year ends it first", `{"StartAt":"W","TimeoutSeconds":86400,"States":{"W":{"Type":"Wait","Seconds":99999999,"End":true}}}`, `{}`,
			StatusTimedOut, 24 * time.Hour, "TimeoutSeconds (86400)"},
		{"a wait of 364 days completes", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":31449600,"End":true}}}`, `{}`,
			StatusSucceeded, 364 * 24 * time.Hour, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex, _ := runDef(t, tc.def, tc.input, echo)
			wantStatus(t, ex, tc.status)
			if got := ex.StopDate.Sub(ex.StartDate); got != tc.after {
				t.Errorf("ended after %v of the clock, want %v", got, tc.after)
			}
			if last := ex.History[len(ex.History)-1]; !last.Timestamp.Equal(ex.StopDate) {
				t.Errorf("last event at %v, execution stopped at %v", last.Timestamp, ex.StopDate)
			}
			if tc.status == StatusTimedOut {
				if ex.Error != ErrTimeout || !strings.Contains(ex.Cause, tc.causePart) {
					t.Errorf("error %q cause %q, want %s naming %q", ex.Error, ex.Cause, ErrTimeout, tc.causePart)
				}
				if n := countEvents(ex, "ExecutionTimedOut"); n != 1 {
					t.Errorf("%d ExecutionTimedOut events, want 1: %v", n, eventTypes(ex))
				}
			}
		})
	}
}

// SecondsPath must give what Seconds takes, an integer from 0 to 99999999.
func TestWaitSecondsPathOverTheASLMaximumFails(t *testing.T) {
	ex, _ := runDef(t, `{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.s","End":true}}}`, `{"s":100000000}`, echo)
	wantFailed(t, ex, ErrRuntime, "from 0 to 99999999")
}
