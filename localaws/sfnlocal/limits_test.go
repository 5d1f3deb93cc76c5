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
