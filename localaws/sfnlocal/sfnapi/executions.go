package sfnapi

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// maxInput is Step Functions' payload quota (256 KiB).
const maxInput = 256 * 1024

// stopWait bounds how long StopExecution waits for the engine to record the abort.
const stopWait = 10 * time.Second

type execution struct {
	arn, name string
	machine   machine // the revision this execution started with
	input     string
	seq       int64
	start     time.Time
	cancel    context.CancelCauseFunc
	done      chan struct{} // closed once the engine returned and the outcome is recorded

	// guarded by Server.mu
	status         string
	stopDate       time.Time
	output         json.RawMessage
	errCode, cause string
	events         []sfnlocal.HistoryEvent
	// On a virtual clock: the holds that keep time still between StartExecution and the
	// run's first event, and between its last event and done (so a parent waiting on it
	// carries on at the instant it ended), and the resume funcs of those parents.
	startHold, endHold func()
	waiters            []func()

	mapRunArn string // set for a child execution of a Distributed Map
}

// Execution is an execution as DescribeExecution shows it, for Go callers.
type Execution struct {
	Arn, StateMachineArn, Name string
	Status                     string // RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED
	Input                      string
	Output                     json.RawMessage // set when SUCCEEDED
	Error, Cause               string
	StartDate, StopDate        time.Time
	MapRunArn                  string // the Map Run that started it, for a Distributed Map's child
}

func (e *execution) snapshotLocked() Execution {
	return Execution{Arn: e.arn, StateMachineArn: e.machine.arn, Name: e.name, Status: e.status,
		Input: e.input, Output: e.output, Error: e.errCode, Cause: e.cause,
		StartDate: e.start, StopDate: e.stopDate, MapRunArn: e.mapRunArn}
}

// StartExecution starts an execution and returns its ARN at once; the execution runs in the
// background. An empty name gets a UUID; an empty input is "{}". Starting the same name with
// the same input while that execution runs returns the same ARN; otherwise a used name is
// ExecutionAlreadyExists (STANDARD idempotency).
func (s *Server) StartExecution(ctx context.Context, stateMachineArn, name, input string) (string, error) {
	if input == "" {
		input = "{}"
	}
	e, err := s.startExecution(stateMachineArn, name, input)
	if err != nil {
		return "", err
	}
	return e.arn, nil
}

func (s *Server) startExecution(stateMachineArn, name, input string) (*execution, error) {
	if err := required("stateMachineArn", stateMachineArn); err != nil {
		return nil, err
	}
	if _, _, _, err := arnParts(stateMachineArn, "stateMachine"); err != nil {
		return nil, err
	}
	if name == "" {
		name = newUUID()
	} else if err := checkName("execution", name); err != nil {
		return nil, err
	}
	if len(input) > maxInput {
		return nil, apiErr(CodeValidationException, "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to %d (it has %d bytes)", maxInput, len(input))
	}
	if !json.Valid([]byte(input)) {
		var v any
		err := json.Unmarshal([]byte(input), &v)
		return nil, apiErr(CodeInvalidExecutionInput, "Invalid State Machine Execution Input: '%v' (input must be a JSON text, e.g. {} or {\"userName\":\"s3-signer\"})", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, apiErr(CodeServiceUnavailable, "the local Step Functions server is shutting down")
	}
	m, err := s.machineLocked(stateMachineArn)
	if err != nil {
		return nil, err
	}
	arn := s.executionArn(m.name, name)
	if e, ok := s.executions[arn]; ok {
		if e.status == sfnlocal.StatusRunning && e.input == input {
			return e, nil
		}
		why := "it has ended"
		if e.status == sfnlocal.StatusRunning {
			why = "it is running with a different input"
		}
		return nil, apiErr(CodeExecutionAlreadyExists, "Execution Already Exists: '%s' (%s; execution names cannot be reused, start it under another name)", arn, why)
	}
	// Each execution parses its own copy: runs never share engine state.
	sm, perr := sfnlocal.Parse([]byte(m.definition))
	if perr != nil {
		return nil, apiErr(CodeInvalidDefinition, "Invalid State Machine Definition: '%v'", perr)
	}
	s.seq++
	ctx, cancel := context.WithCancelCause(s.base)
	e := &execution{arn: arn, name: name, machine: *m, input: input, seq: s.seq, start: s.now(),
		cancel: cancel, done: make(chan struct{}), status: sfnlocal.StatusRunning,
		startHold: sfnlocal.Hold(s.clock)}
	s.executions[arn] = e
	s.wg.Add(1)
	go s.run(ctx, e, sm)
	return e, nil
}

func (s *Server) run(ctx context.Context, e *execution, sm *sfnlocal.StateMachine) {
	defer s.wg.Done()
	defer e.cancel(nil)
	s.log.Info("execution started", "executionArn", e.arn, "stateMachineArn", e.machine.arn)
	res := s.runEngine(ctx, e, sm)
	s.mu.Lock()
	e.status = res.Status
	e.output = res.Output
	e.errCode, e.cause = res.Error, res.Cause
	e.stopDate = res.StopDate
	if e.stopDate.IsZero() {
		e.stopDate = s.now()
	}
	// The returned history is the complete one; the live stream may have been cut short.
	if len(res.History) >= len(e.events) {
		e.events = res.History
	}
	status, errCode := e.status, e.errCode
	waiters, endHold := e.waiters, e.endHold
	e.waiters = nil
	s.mu.Unlock()
	e.startHold()
	// Parents waiting on this execution count again before it lets go of the clock.
	for _, resume := range waiters {
		resume()
	}
	close(e.done)
	if endHold != nil {
		endHold()
	}
	s.log.Info("execution ended", "executionArn", e.arn, "status", status, "error", errCode)
}

// runEngine runs the execution in the engine; a panic in the engine fails the execution
// instead of the process.
func (s *Server) runEngine(ctx context.Context, e *execution, sm *sfnlocal.StateMachine) (res *sfnlocal.Execution) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("engine panicked", "executionArn", e.arn, "panic", fmt.Sprint(p))
			s.mu.Lock()
			events := e.events
			s.mu.Unlock()
			res = &sfnlocal.Execution{Status: sfnlocal.StatusFailed, Error: "States.Runtime",
				Cause: fmt.Sprintf("the local Step Functions engine failed: %v", p), History: events, StopDate: s.now()}
		}
	}()
	return sfnlocal.Run(ctx, sm, json.RawMessage(e.input), sfnlocal.Options{
		Tasks:           s.tasks,
		Clock:           s.clock,
		ExecutionArn:    e.arn,
		StateMachineArn: e.machine.arn,
		Name:            e.name,
		RoleArn:         e.machine.roleArn,
		Region:          s.opts.Region,
		MapRuns:         serverMapRuns{s},
		Objects:         s.opts.Objects,
		OnEvent: func(ev sfnlocal.HistoryEvent) {
			s.mu.Lock()
			e.events = append(e.events, ev)
			if e.endHold == nil && endsExecution(ev.Type) {
				e.endHold = sfnlocal.Hold(s.clock)
			}
			s.mu.Unlock()
			e.startHold() // the run counts on the clock by itself now
		},
	})
}

func (s *Server) execution(arn string) (*execution, error) {
	if err := required("executionArn", arn); err != nil {
		return nil, err
	}
	if _, _, _, err := arnParts(arn, "execution"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.executions[arn]
	if !ok {
		return nil, apiErr(CodeExecutionDoesNotExist, "Execution Does Not Exist: '%s'", arn)
	}
	return e, nil
}

// DescribeExecution returns an execution's current state.
func (s *Server) DescribeExecution(ctx context.Context, arn string) (Execution, error) {
	e, err := s.execution(arn)
	if err != nil {
		return Execution{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.snapshotLocked(), nil
}

// Wait blocks until the execution has ended (or ctx is done) and returns it.
func (s *Server) Wait(ctx context.Context, arn string) (Execution, error) {
	e, err := s.execution(arn)
	if err != nil {
		return Execution{}, err
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return Execution{}, fmt.Errorf("waiting for %s: %w", arn, context.Cause(ctx))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.snapshotLocked(), nil
}

// History returns the events recorded so far, oldest first.
func (s *Server) History(ctx context.Context, arn string) ([]sfnlocal.HistoryEvent, error) {
	e, err := s.execution(arn)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sfnlocal.HistoryEvent(nil), e.events...), nil
}

// StopExecution aborts a running execution, recording errCode and cause (both optional), and
// returns once it has ended (or ctx is done). Stopping an ended execution changes nothing.
func (s *Server) StopExecution(ctx context.Context, arn, errCode, cause string) (time.Time, error) {
	e, err := s.execution(arn)
	if err != nil {
		return time.Time{}, err
	}
	return s.stop(ctx, e, errCode, cause), nil
}

func (s *Server) stop(ctx context.Context, e *execution, errCode, cause string) time.Time {
	s.mu.Lock()
	if e.status != sfnlocal.StatusRunning {
		d := e.stopDate
		s.mu.Unlock()
		return d
	}
	s.mu.Unlock()
	// The engine records this error and cause in the ExecutionAborted event.
	e.cancel(sfnlocal.Stop(errCode, cause))
	// Wait for the ABORTED status, as AWS reports it at once — but not for ever on a task
	// invoker that ignores its context.
	select {
	case <-e.done:
	case <-ctx.Done():
		return s.now()
	case <-time.After(stopWait):
		return s.now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.stopDate
}

// ListExecutions returns the executions of a state machine, newest first, optionally only
// those with the given status.
func (s *Server) ListExecutions(ctx context.Context, stateMachineArn, status string) ([]Execution, error) {
	if _, _, _, err := arnParts(stateMachineArn, "stateMachine"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.machineLocked(stateMachineArn); err != nil {
		return nil, err
	}
	all := listed(s.executions, newestFirst, func(e *execution) bool {
		return e.machine.arn == stateMachineArn && (status == "" || e.status == status)
	})
	out := make([]Execution, len(all))
	for i, e := range all {
		out[i] = e.snapshotLocked()
	}
	return out, nil
}

// wire shapes

type dataDetails struct {
	Included bool `json:"included"`
}

// executionListItem is an execution as ListExecutions lists it; DescribeExecution adds to it.
type executionListItem struct {
	ExecutionArn    string `json:"executionArn"`
	StateMachineArn string `json:"stateMachineArn"`
	Name            string `json:"name"`
	Status          string `json:"status"`
	StartDate       epoch  `json:"startDate"`
	StopDate        *epoch `json:"stopDate,omitempty"`  // once it has ended
	MapRunArn       string `json:"mapRunArn,omitempty"` // listed by mapRunArn
}

func newExecutionListItem(arn, machineArn, name, status string, start, stop time.Time) executionListItem {
	it := executionListItem{ExecutionArn: arn, StateMachineArn: machineArn, Name: name, Status: status, StartDate: epoch(start)}
	if status != sfnlocal.StatusRunning {
		it.StopDate = epochPtr(stop)
	}
	return it
}

type describeExecutionOut struct {
	executionListItem
	Input         string       `json:"input"`
	InputDetails  dataDetails  `json:"inputDetails"`
	Output        *string      `json:"output,omitempty"`
	OutputDetails *dataDetails `json:"outputDetails,omitempty"`
	Error         string       `json:"error,omitempty"`
	Cause         string       `json:"cause,omitempty"`
	RedriveCount  int32        `json:"redriveCount"`
	RedriveStatus string       `json:"redriveStatus"`
	MapRunArn     string       `json:"mapRunArn,omitempty"`
}

func toDescribeOut(x Execution) describeExecutionOut {
	out := describeExecutionOut{
		executionListItem: newExecutionListItem(x.Arn, x.StateMachineArn, x.Name, x.Status, x.StartDate, x.StopDate),
		Input:             x.Input, InputDetails: dataDetails{true}, Error: x.Error, Cause: x.Cause, RedriveStatus: "NOT_REDRIVABLE",
		MapRunArn: x.MapRunArn}
	if x.Status == sfnlocal.StatusSucceeded {
		o := string(x.Output)
		out.Output, out.OutputDetails = &o, &dataDetails{true}
	}
	return out
}

// startExecutionInput is the StartExecution request body.
type startExecutionInput struct {
	StateMachineArn, Name string
	Input                 *string
}

func (s *Server) httpStartExecution(ctx context.Context, in startExecutionInput) (any, error) {
	input := "{}"
	if in.Input != nil {
		input = *in.Input
	}
	e, err := s.startExecution(in.StateMachineArn, in.Name, input)
	if err != nil {
		return nil, err
	}
	return struct {
		ExecutionArn string `json:"executionArn"`
		StartDate    epoch  `json:"startDate"`
	}{e.arn, epoch(e.start)}, nil
}

func (s *Server) httpDescribeExecution(ctx context.Context, in struct{ ExecutionArn string }) (any, error) {
	x, err := s.DescribeExecution(ctx, in.ExecutionArn)
	if err != nil {
		return nil, err
	}
	return toDescribeOut(x), nil
}

func (s *Server) httpStopExecution(ctx context.Context, in struct{ ExecutionArn, Error, Cause string }) (any, error) {
	d, err := s.StopExecution(ctx, in.ExecutionArn, in.Error, in.Cause)
	if err != nil {
		return nil, err
	}
	return struct {
		StopDate epoch `json:"stopDate"`
	}{epoch(d)}, nil
}

func (s *Server) httpDescribeStateMachineForExecution(ctx context.Context, in struct{ ExecutionArn string }) (any, error) {
	e, err := s.execution(in.ExecutionArn)
	if err != nil {
		return nil, err
	}
	m := e.machine
	updated := m.updated
	if updated.IsZero() {
		updated = m.created
	}
	return describeStateMachineOut{StateMachineArn: m.arn, Name: m.name, Definition: m.definition,
		RoleArn: m.roleArn, UpdateDate: epochPtr(updated), RevisionID: m.revisionID,
		LoggingConfiguration: loggingOff, TracingConfiguration: tracingOff}, nil
}

var statusFilters = []string{sfnlocal.StatusRunning, sfnlocal.StatusSucceeded, sfnlocal.StatusFailed,
	sfnlocal.StatusTimedOut, sfnlocal.StatusAborted, "PENDING_REDRIVE"}

// listExecutionsInput is the ListExecutions request body.
type listExecutionsInput struct {
	StateMachineArn, StatusFilter, NextToken, MapRunArn string
	MaxResults                                          int32
}

func (s *Server) httpListExecutions(ctx context.Context, in listExecutionsInput) (any, error) {
	if in.MapRunArn != "" && in.StateMachineArn != "" {
		return nil, apiErr(CodeValidationException, "Must provide a StateMachine ARN or MapRun ARN, not both")
	}
	if in.MapRunArn != "" {
		if in.StatusFilter != "" && !slices.Contains(statusFilters, in.StatusFilter) {
			return nil, apiErr(CodeValidationException, "1 validation error detected: Value '%s' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: [%s]", in.StatusFilter, strings.Join(statusFilters, ", "))
		}
		items, err := s.listChildren(in.MapRunArn, in.StatusFilter)
		if err != nil {
			return nil, err
		}
		return struct {
			Executions []executionListItem `json:"executions"`
		}{items}, nil
	}
	if in.StateMachineArn == "" {
		return nil, apiErr(CodeValidationException, "Must provide a StateMachine ARN or MapRun ARN")
	}
	if _, _, _, err := arnParts(in.StateMachineArn, "stateMachine"); err != nil {
		return nil, err
	}
	if in.StatusFilter != "" && !slices.Contains(statusFilters, in.StatusFilter) {
		return nil, apiErr(CodeValidationException, "1 validation error detected: Value '%s' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: [%s]", in.StatusFilter, strings.Join(statusFilters, ", "))
	}
	size, aerr := pageSize(in.MaxResults)
	if aerr != nil {
		return nil, aerr
	}
	scope := in.StateMachineArn + "|" + in.StatusFilter
	from := int64(-1)
	if in.NextToken != "" {
		t, aerr := decodeToken(in.NextToken, "ListExecutions", scope)
		if aerr != nil {
			return nil, aerr
		}
		from = t.Next
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.machineLocked(in.StateMachineArn); err != nil {
		return nil, err
	}
	all := listed(s.executions, newestFirst, func(e *execution) bool {
		return e.machine.arn == in.StateMachineArn && (in.StatusFilter == "" || e.status == in.StatusFilter) && (from < 0 || e.seq <= from)
	})
	out := struct {
		Executions []executionListItem `json:"executions"`
		NextToken  string              `json:"nextToken,omitempty"`
	}{Executions: []executionListItem{}}
	for i, e := range all {
		if i == size {
			out.NextToken = pageToken{Op: "ListExecutions", Scope: scope, Next: e.seq}.encode()
			break
		}
		out.Executions = append(out.Executions, newExecutionListItem(e.arn, e.machine.arn, e.name, e.status, e.start, e.stopDate))
	}
	return out, nil
}

// dataKeys are the detail fields that carry execution data; includeExecutionData=false drops
// them.
var dataKeys = []string{"input", "output", "parameters", "inputDetails", "outputDetails"}

// getExecutionHistoryInput is the GetExecutionHistory request body.
type getExecutionHistoryInput struct {
	ExecutionArn, NextToken string
	MaxResults              int32
	ReverseOrder            bool
	IncludeExecutionData    *bool
}

func (s *Server) httpGetExecutionHistory(ctx context.Context, in getExecutionHistoryInput) (any, error) {
	size, aerr := pageSize(in.MaxResults)
	if aerr != nil {
		return nil, aerr
	}
	events, err := s.History(ctx, in.ExecutionArn)
	if err != nil {
		return nil, err
	}
	// Positions are event indexes: stable while the live history grows at its end.
	pos, step := 0, 1
	if in.ReverseOrder {
		pos, step = len(events)-1, -1
	}
	if in.NextToken != "" {
		t, aerr := decodeToken(in.NextToken, "GetExecutionHistory", in.ExecutionArn)
		if aerr != nil || t.Rev != in.ReverseOrder || t.Next < 0 || t.Next > int64(len(events)) {
			return nil, apiErr(CodeInvalidToken, "Invalid Token: '%s' (pass the nextToken of the previous GetExecutionHistory response unchanged, with the same executionArn and reverseOrder)", in.NextToken)
		}
		pos = int(t.Next)
	}
	includeData := in.IncludeExecutionData == nil || *in.IncludeExecutionData
	out := struct {
		Events    []json.RawMessage `json:"events"`
		NextToken string            `json:"nextToken,omitempty"`
	}{Events: []json.RawMessage{}}
	for ; pos >= 0 && pos < len(events); pos += step {
		if len(out.Events) == size {
			out.NextToken = pageToken{Op: "GetExecutionHistory", Scope: in.ExecutionArn, Next: int64(pos), Rev: in.ReverseOrder}.encode()
			break
		}
		b, err := json.Marshal(events[pos])
		if err != nil {
			return nil, fmt.Errorf("encoding history event %d of %s: %w", events[pos].ID, in.ExecutionArn, err)
		}
		if !includeData {
			if b, err = dropData(b); err != nil {
				return nil, fmt.Errorf("dropping data of history event %d of %s: %w", events[pos].ID, in.ExecutionArn, err)
			}
		}
		out.Events = append(out.Events, b)
	}
	return out, nil
}

// dropData removes input, output and parameters from an event's "<x>EventDetails".
func dropData(event []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(event, &m); err != nil {
		return nil, err
	}
	for k, v := range m {
		if !strings.HasSuffix(k, "EventDetails") {
			continue
		}
		var d map[string]json.RawMessage
		if err := json.Unmarshal(v, &d); err != nil || d == nil {
			continue
		}
		for _, dk := range dataKeys {
			delete(d, dk)
		}
		nb, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		m[k] = nb
	}
	return json.Marshal(m)
}

// endsExecution reports whether an event of type typ is an execution's last.
func endsExecution(typ string) bool {
	switch typ {
	case "ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut":
		return true
	}
	return false
}
