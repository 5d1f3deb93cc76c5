package sfnlocal

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"time"
)

// HistoryEvent is one entry of an execution's history, as GetExecutionHistory returns it.
type HistoryEvent struct {
	Timestamp       time.Time
	Type            string
	ID              int64
	PreviousEventID int64
	Details         any // one of the *EventDetails types below, or nil
}

// StateName is the state an entered or exited event names; "" for any other event.
func (e HistoryEvent) StateName() string {
	switch d := e.Details.(type) {
	case *StateEnteredEventDetails:
		return d.Name
	case *StateExitedEventDetails:
		return d.Name
	}
	return ""
}

// DetailsKey returns the JSON member AWS puts this event's details under, e.g.
// "stateEnteredEventDetails" for TaskStateEntered or "lambdaFunctionScheduledEventDetails".
func (e HistoryEvent) DetailsKey() string { return detailsKey(e.Type) }

func detailsKey(typ string) string {
	switch {
	case strings.HasSuffix(typ, evStateEntered):
		return "stateEnteredEventDetails"
	case strings.HasSuffix(typ, evStateExited):
		return "stateExitedEventDetails"
	}
	return strings.ToLower(typ[:1]) + typ[1:] + "EventDetails"
}

// MarshalJSON writes the AWS GetExecutionHistory wire shape: timestamp in epoch seconds,
// type, id, previousEventId and the details under their AWS key.
func (e HistoryEvent) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"timestamp":`)
	ts := float64(e.Timestamp.UnixMilli()) / 1000
	tsb, _ := json.Marshal(ts)
	b.Write(tsb)
	b.WriteString(`,"type":`)
	tb, _ := json.Marshal(e.Type)
	b.Write(tb)
	b.WriteString(`,"id":`)
	ib, _ := json.Marshal(e.ID)
	b.Write(ib)
	b.WriteString(`,"previousEventId":`)
	pb, _ := json.Marshal(e.PreviousEventID)
	b.Write(pb)
	if e.Details != nil {
		db, err := marshalNoEscape(e.Details)
		if err != nil {
			return nil, err
		}
		b.WriteString(`,"`)
		b.WriteString(detailsKey(e.Type))
		b.WriteString(`":`)
		b.Write(db)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// PayloadDetails is AWS's HistoryEventExecutionDataDetails.
type PayloadDetails struct {
	Truncated bool `json:"truncated"`
}

var notTruncated = &PayloadDetails{}

// ExecutionStartedEventDetails — ExecutionStarted.
type ExecutionStartedEventDetails struct {
	Input        string          `json:"input"`
	InputDetails *PayloadDetails `json:"inputDetails,omitempty"`
	RoleArn      string          `json:"roleArn,omitempty"`
}

// ExecutionSucceededEventDetails — ExecutionSucceeded.
type ExecutionSucceededEventDetails struct {
	Output        string          `json:"output"`
	OutputDetails *PayloadDetails `json:"outputDetails,omitempty"`
}

// ErrorCauseDetails is the shape of ExecutionFailed/Aborted/TimedOut, LambdaFunctionFailed/
// TimedOut and similar events: {error, cause}.
type ErrorCauseDetails struct {
	Error string `json:"error,omitempty"`
	Cause string `json:"cause,omitempty"`
}

// StateEnteredEventDetails — <Type>StateEntered.
type StateEnteredEventDetails struct {
	Name         string          `json:"name"`
	Input        string          `json:"input"`
	InputDetails *PayloadDetails `json:"inputDetails,omitempty"`
}

// StateExitedEventDetails — <Type>StateExited.
type StateExitedEventDetails struct {
	Name          string          `json:"name"`
	Output        string          `json:"output"`
	OutputDetails *PayloadDetails `json:"outputDetails,omitempty"`
}

// LambdaFunctionScheduledEventDetails — LambdaFunctionScheduled.
type LambdaFunctionScheduledEventDetails struct {
	Resource         string          `json:"resource"`
	Input            string          `json:"input"`
	InputDetails     *PayloadDetails `json:"inputDetails,omitempty"`
	TimeoutInSeconds int64           `json:"timeoutInSeconds,omitempty"`
}

// OutputDetails is the shape of LambdaFunctionSucceeded: {output, outputDetails}.
type OutputDetails struct {
	Output        string          `json:"output"`
	OutputDetails *PayloadDetails `json:"outputDetails,omitempty"`
}

// ActivityScheduledEventDetails — ActivityScheduled.
type ActivityScheduledEventDetails struct {
	Resource           string          `json:"resource"`
	Input              string          `json:"input"`
	InputDetails       *PayloadDetails `json:"inputDetails,omitempty"`
	TimeoutInSeconds   int64           `json:"timeoutInSeconds,omitempty"`
	HeartbeatInSeconds int64           `json:"heartbeatInSeconds,omitempty"`
}

// TaskScheduledEventDetails — TaskScheduled.
type TaskScheduledEventDetails struct {
	ResourceType       string `json:"resourceType"`
	Resource           string `json:"resource"`
	Region             string `json:"region"`
	Parameters         string `json:"parameters"`
	TimeoutInSeconds   int64  `json:"timeoutInSeconds,omitempty"`
	HeartbeatInSeconds int64  `json:"heartbeatInSeconds,omitempty"`
}

// TaskStartedEventDetails — TaskStarted.
type TaskStartedEventDetails struct {
	ResourceType string `json:"resourceType"`
	Resource     string `json:"resource"`
}

// TaskOutputEventDetails is the shape of TaskSubmitted and TaskSucceeded.
type TaskOutputEventDetails struct {
	ResourceType  string          `json:"resourceType"`
	Resource      string          `json:"resource"`
	Output        string          `json:"output"`
	OutputDetails *PayloadDetails `json:"outputDetails,omitempty"`
}

// TaskErrorEventDetails is the shape of TaskFailed and TaskTimedOut.
type TaskErrorEventDetails struct {
	ResourceType string `json:"resourceType"`
	Resource     string `json:"resource"`
	Error        string `json:"error,omitempty"`
	Cause        string `json:"cause,omitempty"`
}

// MapStateStartedEventDetails — MapStateStarted.
type MapStateStartedEventDetails struct {
	Length int `json:"length"`
}

// MapRunStartedEventDetails — MapRunStarted.
type MapRunStartedEventDetails struct {
	MapRunArn string `json:"mapRunArn"`
}

// MapIterationEventDetails is the shape of MapIterationStarted/Succeeded/Failed/Aborted.
type MapIterationEventDetails struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
}

// history is an execution's event log; Parallel branches and Map iterations append to it
// concurrently.
type history struct {
	mu      sync.Mutex
	events  []HistoryEvent
	clock   Clock
	onEvent func(HistoryEvent)

	// onFull is called (once, with mu held) when the history reaches MaxHistoryEvents and the
	// execution fails for it; full is then set and later events are dropped.
	onFull func()
	full   bool
}

// MaxHistoryEvents is Step Functions' hard quota on one execution's history. At event
// 25,000 an execution ends: if that event is ExecutionSucceeded it succeeds, otherwise
// ExecutionFailed is logged as event 25,000 and the execution fails
// (https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html,
// https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html "Maximum execution
// history size").
const MaxHistoryEvents = 25000

// History-quota failure. AWS's documentation names no error for it; the cause is the text
// AWS reports ("The execution reached the maximum number of history events (25000).", quoted
// in https://cloudonaut.io/step-functions-pitfall-maximum-number-of-history-events/). The
// error is States.Runtime, the name AWS gives failures a Catch cannot handle.
const historyFullCause = "The execution reached the maximum number of history events (25000)."

// add appends an event after prev (the id of the event that led to it in the same thread)
// and returns the new event's id.
func (h *history) add(prev int64, typ string, details any) int64 {
	return h.addAt(h.clock.Now(), prev, typ, details)
}

func (h *history) addAt(now time.Time, prev int64, typ string, details any) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.full {
		return int64(len(h.events))
	}
	if len(h.events) == MaxHistoryEvents-1 && typ != evExecutionSucceeded {
		h.full = true
		typ, details, prev = evExecutionFailed, &ErrorCauseDetails{Error: ErrRuntime, Cause: historyFullCause}, int64(len(h.events))
		if h.onFull != nil {
			defer h.onFull()
		}
	}
	ev := HistoryEvent{
		Timestamp:       now,
		Type:            typ,
		ID:              int64(len(h.events) + 1),
		PreviousEventID: prev,
		Details:         details,
	}
	h.events = append(h.events, ev)
	if h.onEvent != nil {
		h.onEvent(ev)
	}
	return ev.ID
}

// handOver returns the events without copying them: the run is over and appends no more.
func (h *history) handOver() []HistoryEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.events
}

// marshalNoEscape encodes like json.Marshal but leaves <, > and & alone, as AWS does.
func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := b.Bytes()
	return out[:len(out)-1], nil
}

func (h *history) lastID() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return int64(len(h.events))
}
