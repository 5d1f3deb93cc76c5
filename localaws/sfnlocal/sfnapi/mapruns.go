package sfnapi

import (
	"context"
	"strings"
	"time"

	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// Map Runs of Distributed Map states: each child execution is an execution of this server
// (DescribeExecution, GetExecutionHistory, StopExecution and ListExecutions with mapRunArn
// work on it), and DescribeMapRun/ListMapRuns report the runs
// (https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeMapRun.html,
// API_ListMapRuns.html; response shapes recorded in localstack/localstack
// tests/aws/services/stepfunctions/v2/test_sfn_api_map_run.snapshot.json).

type mapRun struct {
	start     sfnlocal.MapRunStart
	startDate time.Time
	// guarded by Server.mu
	end      *sfnlocal.MapRunEnd
	stopDate time.Time
	children []*execution
	seq      int64
}

// MapRun is a Map Run as DescribeMapRun shows it, for Go callers.
type MapRun struct {
	Arn, ExecutionArn, Status string
	StartDate, StopDate       time.Time
	MaxConcurrency            int
	ToleratedFailureCount     int64
	ToleratedFailurePct       float64
	Error, Cause              string
	Counts                    MapRunCounts
}

// MapRunCounts are DescribeMapRun's executionCounts (one child execution per item, so its
// itemCounts are the same).
type MapRunCounts struct {
	Pending        int64 `json:"pending"`
	Running        int64 `json:"running"`
	Succeeded      int64 `json:"succeeded"`
	Failed         int64 `json:"failed"`
	TimedOut       int64 `json:"timedOut"`
	Aborted        int64 `json:"aborted"`
	Total          int64 `json:"total"`
	ResultsWritten int64 `json:"resultsWritten"`
}

type serverMapRuns struct{ s *Server }

func (m serverMapRuns) StartMapRun(ctx context.Context, run sfnlocal.MapRunStart) error {
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	s.mapRuns[run.Arn] = &mapRun{start: run, startDate: s.now(), seq: s.seq}
	return nil
}

func (m serverMapRuns) EndMapRun(arn string, end sfnlocal.MapRunEnd) {
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if mr := s.mapRuns[arn]; mr != nil {
		mr.end, mr.stopDate = &end, s.now()
	}
}

// RunChild runs a child execution as an execution of this server, in the calling Map
// worker's goroutine (on a virtual clock it is that worker's turn).
func (m serverMapRuns) RunChild(ctx context.Context, c sfnlocal.ChildRun) sfnlocal.ChildOutcome {
	s := m.s
	failed := func(cause string) sfnlocal.ChildOutcome {
		return sfnlocal.ChildOutcome{ExecutionArn: c.ExecutionArn, Name: c.Name, Status: sfnlocal.StatusFailed, Input: c.Input,
			Error: sfnlocal.ErrRuntime, Cause: cause, StartDate: s.now(), StopDate: s.now()}
	}
	// Each execution parses its own copy: runs never share engine state.
	sm, err := sfnlocal.Parse(c.Machine.Definition())
	if err != nil {
		return failed(err.Error())
	}
	cctx, cancel := context.WithCancelCause(ctx)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel(nil)
		return failed("the local Step Functions server is shutting down")
	}
	s.seq++
	name := c.StateMachineArn[strings.LastIndexByte(c.StateMachineArn, ':')+1:]
	e := &execution{arn: c.ExecutionArn, name: c.Name, input: c.Input, seq: s.seq, start: s.now(),
		machine: machine{arn: c.StateMachineArn, name: name, definition: string(c.Machine.Definition()), roleArn: c.RoleArn},
		cancel:  cancel, done: make(chan struct{}), status: sfnlocal.StatusRunning, startHold: func() {}, mapRunArn: c.MapRunArn}
	s.executions[e.arn] = e
	if mr := s.mapRuns[c.MapRunArn]; mr != nil {
		mr.children = append(mr.children, e)
	}
	s.wg.Add(1)
	s.mu.Unlock()
	s.run(cctx, e, sm)
	s.mu.Lock()
	defer s.mu.Unlock()
	return sfnlocal.ChildOutcome{ExecutionArn: e.arn, Name: e.name, Status: e.status, Input: e.input, Output: e.output,
		Error: e.errCode, Cause: e.cause, StartDate: e.start, StopDate: e.stopDate}
}

func (s *Server) mapRunLocked(arn string) (*mapRun, error) {
	if err := required("mapRunArn", arn); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":mapRun:") {
		return nil, apiErr(CodeInvalidArn, "Invalid Arn: 'Resource type not valid in this context: %s' (a Map Run ARN is arn:aws:states:<region>:<account>:mapRun:<machine>/<label>:<id>)", arn)
	}
	mr, ok := s.mapRuns[arn]
	if !ok {
		return nil, apiErr(CodeResourceNotFound, "Resource not found: '%s'", arn)
	}
	return mr, nil
}

func (mr *mapRun) snapshotLocked() MapRun {
	x := MapRun{Arn: mr.start.Arn, ExecutionArn: mr.start.ExecutionArn, Status: sfnlocal.StatusRunning, StartDate: mr.startDate,
		MaxConcurrency: mr.start.MaxConcurrency, ToleratedFailureCount: mr.start.ToleratedFailureCount,
		ToleratedFailurePct: mr.start.ToleratedFailurePercentage}
	if mr.end != nil {
		x.Status, x.Error, x.Cause, x.StopDate = mr.end.Status, mr.end.Error, mr.end.Cause, mr.stopDate
		x.Counts.ResultsWritten = int64(mr.end.ResultsWritten)
	}
	c := &x.Counts
	c.Total = int64(mr.start.Items)
	for _, e := range mr.children {
		switch e.status {
		case sfnlocal.StatusRunning:
			c.Running++
		case sfnlocal.StatusSucceeded:
			c.Succeeded++
		case sfnlocal.StatusFailed:
			c.Failed++
		case sfnlocal.StatusTimedOut:
			c.TimedOut++
		case sfnlocal.StatusAborted:
			c.Aborted++
		}
	}
	if mr.end == nil {
		c.Pending = c.Total - int64(len(mr.children))
	}
	return x
}

// DescribeMapRun returns a Map Run's settings, status and child execution counts.
func (s *Server) DescribeMapRun(ctx context.Context, arn string) (MapRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mr, err := s.mapRunLocked(arn)
	if err != nil {
		return MapRun{}, err
	}
	return mr.snapshotLocked(), nil
}

// ListMapRuns returns the Map Runs an execution started, newest first.
func (s *Server) ListMapRuns(ctx context.Context, executionArn string) ([]MapRun, error) {
	if _, err := s.execution(executionArn); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	runs := listed(s.mapRuns, newestFirst, func(mr *mapRun) bool { return mr.start.ExecutionArn == executionArn })
	out := make([]MapRun, len(runs))
	for i, mr := range runs {
		out[i] = mr.snapshotLocked()
	}
	return out, nil
}

func (s *Server) httpDescribeMapRun(ctx context.Context, in struct{ MapRunArn string }) (any, error) {
	x, err := s.DescribeMapRun(ctx, in.MapRunArn)
	if err != nil {
		return nil, err
	}
	out := struct {
		MapRunArn                  string       `json:"mapRunArn"`
		ExecutionArn               string       `json:"executionArn"`
		Status                     string       `json:"status"`
		StartDate                  epoch        `json:"startDate"`
		StopDate                   *epoch       `json:"stopDate,omitempty"`
		MaxConcurrency             int          `json:"maxConcurrency"`
		ToleratedFailureCount      int64        `json:"toleratedFailureCount"`
		ToleratedFailurePercentage float64      `json:"toleratedFailurePercentage"`
		ItemCounts                 MapRunCounts `json:"itemCounts"`
		ExecutionCounts            MapRunCounts `json:"executionCounts"`
		RedriveCount               int          `json:"redriveCount"`
	}{MapRunArn: x.Arn, ExecutionArn: x.ExecutionArn, Status: x.Status, StartDate: epoch(x.StartDate),
		MaxConcurrency: x.MaxConcurrency, ToleratedFailureCount: x.ToleratedFailureCount,
		ToleratedFailurePercentage: x.ToleratedFailurePct, ItemCounts: x.Counts, ExecutionCounts: x.Counts}
	if x.Status != sfnlocal.StatusRunning {
		out.StopDate = epochPtr(x.StopDate)
	}
	return out, nil
}

func (s *Server) httpListMapRuns(ctx context.Context, in struct{ ExecutionArn string }) (any, error) {
	runs, err := s.ListMapRuns(ctx, in.ExecutionArn)
	if err != nil {
		return nil, err
	}
	type item struct {
		ExecutionArn    string `json:"executionArn"`
		MapRunArn       string `json:"mapRunArn"`
		StateMachineArn string `json:"stateMachineArn"`
		StartDate       epoch  `json:"startDate"`
		StopDate        *epoch `json:"stopDate,omitempty"`
	}
	out := struct {
		MapRuns []item `json:"mapRuns"`
	}{MapRuns: []item{}}
	for _, x := range runs {
		it := item{ExecutionArn: x.ExecutionArn, MapRunArn: x.Arn, StartDate: epoch(x.StartDate)}
		// mapRun:<machine>/<label>:<id> → stateMachine:<machine>/<label>
		it.StateMachineArn = strings.Replace(x.Arn[:strings.LastIndexByte(x.Arn, ':')], ":mapRun:", ":stateMachine:", 1)
		if x.Status != sfnlocal.StatusRunning {
			it.StopDate = epochPtr(x.StopDate)
		}
		out.MapRuns = append(out.MapRuns, it)
	}
	return out, nil
}

// childrenOf lists a Map Run's child executions for ListExecutions with mapRunArn, newest
// first, each item carrying the mapRunArn.
func (s *Server) listChildren(mapRunArn, status string) ([]executionListItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mr, err := s.mapRunLocked(mapRunArn)
	if err != nil {
		return nil, err
	}
	out := []executionListItem{}
	for i := len(mr.children) - 1; i >= 0; i-- {
		e := mr.children[i]
		if status != "" && e.status != status {
			continue
		}
		it := newExecutionListItem(e.arn, e.machine.arn, e.name, e.status, e.start, e.stopDate)
		it.MapRunArn = mapRunArn
		out = append(out, it)
	}
	return out, nil
}
