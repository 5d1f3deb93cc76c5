package sfnapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// The Step Functions integrations of Task states that start a child execution.
const (
	ResourceStartExecution      = "arn:aws:states:::states:startExecution"
	ResourceStartExecutionSync  = "arn:aws:states:::states:startExecution.sync"
	ResourceStartExecutionSync2 = "arn:aws:states:::states:startExecution.sync:2"
)

// nestedInvoker serves the startExecution integrations from the server and passes every
// other resource to the user's invoker.
type nestedInvoker struct {
	s    *Server
	next sfnlocal.TaskInvoker
}

func (n *nestedInvoker) InvokeTask(ctx context.Context, req sfnlocal.TaskRequest) (json.RawMessage, error) {
	switch req.Resource {
	case ResourceStartExecution, ResourceStartExecutionSync, ResourceStartExecutionSync2:
		return n.s.startChild(ctx, req)
	}
	if n.next == nil {
		return nil, fmt.Errorf("no task invoker is configured for resource %s (state %s); pass sfnapi.Options.Tasks", req.Resource, req.StateName)
	}
	return n.next.InvokeTask(ctx, req)
}

// childParams are the Parameters of a startExecution Task.
type childParams struct {
	StateMachineArn string
	Input           json.RawMessage // an object (or any JSON value) or a string holding JSON
	Name            string
}

// childResult is the Task result: StartExecution's for the plain integration, and
// DescribeExecution's (PascalCase, dates in epoch milliseconds) for .sync and .sync:2 —
// where .sync:2 gives Input and Output as JSON rather than strings.
type childResult struct {
	ExecutionArn    string          `json:"ExecutionArn"`
	Input           json.RawMessage `json:"Input,omitempty"`
	InputDetails    *syncDetails    `json:"InputDetails,omitempty"`
	Name            string          `json:"Name,omitempty"`
	Output          json.RawMessage `json:"Output,omitempty"`
	OutputDetails   *syncDetails    `json:"OutputDetails,omitempty"`
	Error           string          `json:"Error,omitempty"`
	Cause           string          `json:"Cause,omitempty"`
	RedriveCount    *int            `json:"RedriveCount,omitempty"`
	RedriveStatus   string          `json:"RedriveStatus,omitempty"`
	StartDate       int64           `json:"StartDate"`
	StateMachineArn string          `json:"StateMachineArn,omitempty"`
	Status          string          `json:"Status,omitempty"`
	StopDate        int64           `json:"StopDate,omitempty"`
}

type syncDetails struct {
	Included bool `json:"Included"`
}

func (s *Server) startChild(ctx context.Context, req sfnlocal.TaskRequest) (json.RawMessage, error) {
	var p childParams
	if err := json.Unmarshal(req.Input, &p); err != nil {
		return nil, sfnlocal.NewTaskFailure("StepFunctions.ValidationException",
			fmt.Sprintf("the Parameters of state %s must be an object with StateMachineArn, Input and Name: %v", req.StateName, err))
	}
	input, err := childInput(p.Input)
	if err != nil {
		return nil, sfnlocal.NewTaskFailure("StepFunctions.InvalidExecutionInputException",
			fmt.Sprintf("Input of state %s: %v", req.StateName, err))
	}
	child, err := s.startExecution(p.StateMachineArn, p.Name, input)
	if err != nil {
		return nil, serviceFailure(err)
	}
	started, err := json.Marshal(childResult{ExecutionArn: child.arn, StartDate: child.start.UnixMilli()})
	if err != nil {
		return nil, fmt.Errorf("encoding the StartExecution response of child execution %s: %w", child.arn, err)
	}
	if req.Resource == ResourceStartExecution {
		return started, nil
	}
	// As on AWS, the parent's history shows TaskSubmitted with StartExecution's response as
	// soon as the child runs, and TaskSucceeded/TaskFailed only when it ends. Submitted fails
	// only when ctx is no engine Task's (no history to write to) or the Task has already
	// ended — then ctx is done and the wait below stops the child.
	_ = sfnlocal.Submitted(ctx, started)
	// On a virtual clock the Task waits for the child's work rather than doing its own, so
	// the child's Waits can pass; the child counts the Task again as it ends.
	w := &idleWait{}
	s.mu.Lock()
	running := child.status == sfnlocal.StatusRunning
	if running {
		child.waiters = append(child.waiters, w.stop)
	}
	s.mu.Unlock()
	if running {
		w.start(ctx) // outside s.mu: letting time move may fire timers
	}
	defer w.stop()
	select {
	case <-child.done:
	case <-ctx.Done():
		w.stop()
		// The parent stopped waiting (it was aborted or the Task timed out): AWS stops the
		// child of a .sync integration too.
		s.stop(ctx, child, "", fmt.Sprintf("the parent execution %s stopped waiting for this execution", req.ExecutionArn))
		return nil, context.Cause(ctx)
	}
	s.mu.Lock()
	x := child.snapshotLocked()
	s.mu.Unlock()
	res := childResult{ExecutionArn: x.Arn, InputDetails: &syncDetails{true}, Name: x.Name,
		Error: x.Error, Cause: x.Cause, RedriveCount: new(int), RedriveStatus: "NOT_REDRIVABLE",
		StartDate: x.StartDate.UnixMilli(), StateMachineArn: x.StateMachineArn, Status: x.Status,
		StopDate: x.StopDate.UnixMilli()}
	asJSON := req.Resource == ResourceStartExecutionSync2
	res.Input = dataField(json.RawMessage(x.Input), asJSON)
	if x.Status == sfnlocal.StatusSucceeded {
		res.Output, res.OutputDetails = dataField(x.Output, asJSON), &syncDetails{true}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("encoding the result of child execution %s: %w", x.Arn, err)
	}
	if x.Status != sfnlocal.StatusSucceeded {
		// As on AWS: the Task fails with States.TaskFailed, its Cause the child's description.
		return nil, sfnlocal.NewTaskFailure("States.TaskFailed", string(b))
	}
	return b, nil
}

// childInput turns the Input parameter into execution input: a string is the input text
// itself; any other JSON value is serialized; none is {}.
func childInput(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "{}", nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return "", err
	}
	return b.String(), nil
}

// dataField is a JSON document as .sync:2 gives it (the JSON) or as .sync does (a string).
func dataField(doc json.RawMessage, asJSON bool) json.RawMessage {
	if len(doc) == 0 {
		doc = json.RawMessage("null")
	}
	if asJSON && json.Valid(doc) {
		return doc
	}
	b, _ := json.Marshal(string(doc))
	return b
}

// serviceFailure names a failed StartExecution call as Step Functions names errors of its
// own service integration: StepFunctions.<Code>Exception, with the SDK-style cause.
func serviceFailure(err error) error {
	var ae *Error
	if !errors.As(err, &ae) {
		return err
	}
	name := ae.Code
	if !strings.HasSuffix(name, "Exception") {
		name += "Exception" // the SDK's exception class: ExecutionAlreadyExists → ExecutionAlreadyExistsException
	}
	return sfnlocal.NewTaskFailure("StepFunctions."+name,
		fmt.Sprintf("%s (Service: AWSStepFunctions; Status Code: %d; Error Code: %s; Request ID: %s; Proxy: null)",
			ae.Message, ae.status(), ae.Code, newUUID()))
}

// idleWait is a Task's wait for a child execution as the clock sees it (sfnlocal.Idle): the
// child's end may stop it before it has started, and then it never starts.
type idleWait struct {
	mu     sync.Mutex
	resume func()
	done   bool
}

func (w *idleWait) start(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.resume = sfnlocal.Idle(ctx)
	}
}

func (w *idleWait) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	if w.resume != nil {
		w.resume()
	}
}
