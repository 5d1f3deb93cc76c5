package sfnapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

const typeStandard = "STANDARD"

// machine is a state machine as created; executions keep their own copy of the revision they
// started with, so an update never changes a running execution.
type machine struct {
	arn, name  string
	definition string
	roleArn    string
	created    time.Time
	updated    time.Time // zero until the first update
	revisionID string    // empty until the first update
	seq        int64
}

// StateMachine is what DescribeStateMachine returns, for Go callers.
type StateMachine struct {
	Arn, Name, Definition, RoleArn, Type, Status string
	CreationDate                                 time.Time
	RevisionID                                   string
}

// maxDefinition is Step Functions' limit on a definition's length.
const maxDefinition = 1 << 20

func checkDefinition(definition string) error {
	if len(definition) > maxDefinition {
		return apiErr(CodeValidationException, "1 validation error detected: Value at 'definition' failed to satisfy constraint: Member must have length less than or equal to %d (it has %d)", maxDefinition, len(definition))
	}
	if _, err := sfnlocal.Parse([]byte(definition)); err != nil {
		var pe *sfnlocal.ParseError
		if errors.As(err, &pe) && pe.AWSMessage() != "" {
			// AWS's shape for what its schema validation refuses (see ParseError.AWSMessage).
			return apiErr(CodeInvalidDefinition, "Invalid State Machine Definition: '%s'", pe.AWSMessage())
		}
		return apiErr(CodeInvalidDefinition, "Invalid State Machine Definition: '%v'", err)
	}
	return nil
}

func checkRoleArn(roleArn string) error {
	if !strings.HasPrefix(roleArn, "arn:") || !strings.Contains(roleArn, ":iam::") || !strings.Contains(roleArn, ":role/") {
		return apiErr(CodeInvalidArn, "Invalid Arn: 'Resource type not valid in this context: %s' (roleArn must be an IAM role ARN, arn:aws:iam::<account>:role/<name>)", roleArn)
	}
	return nil
}

// CreateStateMachine creates a STANDARD state machine and returns its ARN. Creating the same
// name with the same definition again returns the existing ARN (AWS's idempotency rule; the
// role of the first call stays); a different definition is StateMachineAlreadyExists.
func (s *Server) CreateStateMachine(ctx context.Context, name, definition, roleArn string) (string, error) {
	m, err := s.createStateMachine(name, definition, roleArn, "")
	if err != nil {
		return "", err
	}
	return m.arn, nil
}

func (s *Server) createStateMachine(name, definition, roleArn, typ string) (*machine, error) {
	for _, f := range [][2]string{{"name", name}, {"definition", definition}, {"roleArn", roleArn}} {
		if err := required(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	if err := checkName("state machine", name); err != nil {
		return nil, err
	}
	switch typ {
	case "", typeStandard:
	case "EXPRESS":
		return nil, apiErr(CodeStateMachineTypeNotSupported, "this local Step Functions serves STANDARD state machines only; create %q with type STANDARD", name)
	default:
		return nil, apiErr(CodeValidationException, "1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]", typ)
	}
	if err := checkRoleArn(roleArn); err != nil {
		return nil, err
	}
	if err := checkDefinition(definition); err != nil {
		return nil, err
	}
	arn := s.machineArn(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.machines[arn]; ok {
		if m.definition == definition {
			return m, nil
		}
		return nil, apiErr(CodeStateMachineAlreadyExists, "State Machine Already Exists: '%s' (with a different definition; use UpdateStateMachine to change it)", arn)
	}
	s.seq++
	m := &machine{arn: arn, name: name, definition: definition, roleArn: roleArn, created: s.now(), seq: s.seq}
	s.machines[arn] = m
	return m, nil
}

// UpdateStateMachine changes the definition and/or role (empty strings keep the current
// one). Running executions go on with the revision they started with.
func (s *Server) UpdateStateMachine(ctx context.Context, arn, definition, roleArn string) error {
	_, err := s.updateStateMachine(arn, definition, roleArn)
	return err
}

func (s *Server) updateStateMachine(arn, definition, roleArn string) (*machine, error) {
	if err := required("stateMachineArn", arn); err != nil {
		return nil, err
	}
	if _, _, _, err := arnParts(arn, "stateMachine"); err != nil {
		return nil, err
	}
	if definition == "" && roleArn == "" {
		return nil, apiErr(CodeMissingRequiredParameter, "Either the definition or the roleArn must be specified")
	}
	if definition != "" {
		if err := checkDefinition(definition); err != nil {
			return nil, err
		}
	}
	if roleArn != "" {
		if err := checkRoleArn(roleArn); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.machineLocked(arn)
	if err != nil {
		return nil, err
	}
	if definition != "" {
		m.definition = definition
	}
	if roleArn != "" {
		m.roleArn = roleArn
	}
	m.updated = s.now()
	m.revisionID = newUUID()
	return m, nil
}

func (s *Server) machineLocked(arn string) (*machine, error) {
	m, ok := s.machines[arn]
	if !ok {
		return nil, apiErr(CodeStateMachineDoesNotExist, "State Machine Does Not Exist: '%s'", arn)
	}
	return m, nil
}

// DescribeStateMachine returns a state machine's current revision.
func (s *Server) DescribeStateMachine(ctx context.Context, arn string) (StateMachine, error) {
	if _, _, _, err := arnParts(arn, "stateMachine"); err != nil {
		return StateMachine{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.machineLocked(arn)
	if err != nil {
		return StateMachine{}, err
	}
	return StateMachine{Arn: m.arn, Name: m.name, Definition: m.definition, RoleArn: m.roleArn,
		Type: typeStandard, Status: "ACTIVE", CreationDate: m.created, RevisionID: m.revisionID}, nil
}

// DeleteStateMachine deletes a state machine and aborts its running executions (AWS stops
// them at their next transition); their records stay readable. Deleting a state machine that
// does not exist succeeds, as it does on AWS.
func (s *Server) DeleteStateMachine(ctx context.Context, arn string) error {
	if err := required("stateMachineArn", arn); err != nil {
		return err
	}
	if _, _, _, err := arnParts(arn, "stateMachine"); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.machines, arn)
	var running []*execution
	for _, e := range s.executions {
		if e.machine.arn == arn && e.status == sfnlocal.StatusRunning {
			running = append(running, e)
		}
	}
	s.mu.Unlock()
	for _, e := range running {
		s.stop(ctx, e, "", fmt.Sprintf("state machine %s was deleted", arn))
	}
	return nil
}

// wire shapes

type loggingConfiguration struct {
	Level                string `json:"level"`
	IncludeExecutionData bool   `json:"includeExecutionData"`
}

type tracingConfiguration struct {
	Enabled bool `json:"enabled"`
}

var (
	loggingOff = &loggingConfiguration{Level: "OFF"}
	tracingOff = &tracingConfiguration{}
)

// createStateMachineInput is the CreateStateMachine request body.
type createStateMachineInput struct {
	Name, Definition, RoleArn, Type string
}

func (s *Server) httpCreateStateMachine(ctx context.Context, in createStateMachineInput) (any, error) {
	m, err := s.createStateMachine(in.Name, in.Definition, in.RoleArn, in.Type)
	if err != nil {
		return nil, err
	}
	return struct {
		StateMachineArn string `json:"stateMachineArn"`
		CreationDate    epoch  `json:"creationDate"`
	}{m.arn, epoch(m.created)}, nil
}

// updateStateMachineInput is the UpdateStateMachine request body.
type updateStateMachineInput struct {
	StateMachineArn, Definition, RoleArn string
}

func (s *Server) httpUpdateStateMachine(ctx context.Context, in updateStateMachineInput) (any, error) {
	m, err := s.updateStateMachine(in.StateMachineArn, in.Definition, in.RoleArn)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return struct {
		UpdateDate epoch  `json:"updateDate"`
		RevisionID string `json:"revisionId"`
	}{epoch(m.updated), m.revisionID}, nil
}

type describeStateMachineOut struct {
	StateMachineArn      string                `json:"stateMachineArn"`
	Name                 string                `json:"name"`
	Status               string                `json:"status,omitempty"`
	Definition           string                `json:"definition"`
	RoleArn              string                `json:"roleArn"`
	Type                 string                `json:"type,omitempty"`
	CreationDate         *epoch                `json:"creationDate,omitempty"`
	UpdateDate           *epoch                `json:"updateDate,omitempty"`
	RevisionID           string                `json:"revisionId,omitempty"`
	LoggingConfiguration *loggingConfiguration `json:"loggingConfiguration"`
	TracingConfiguration *tracingConfiguration `json:"tracingConfiguration"`
}

func (s *Server) httpDescribeStateMachine(ctx context.Context, in struct{ StateMachineArn string }) (any, error) {
	if err := required("stateMachineArn", in.StateMachineArn); err != nil {
		return nil, err
	}
	sm, err := s.DescribeStateMachine(ctx, in.StateMachineArn)
	if err != nil {
		return nil, err
	}
	return describeStateMachineOut{
		StateMachineArn: sm.Arn, Name: sm.Name, Status: sm.Status, Definition: sm.Definition,
		RoleArn: sm.RoleArn, Type: sm.Type, CreationDate: epochPtr(sm.CreationDate),
		RevisionID: sm.RevisionID, LoggingConfiguration: loggingOff, TracingConfiguration: tracingOff,
	}, nil
}

// listStateMachinesInput is the ListStateMachines request body.
type listStateMachinesInput struct {
	MaxResults int32
	NextToken  string
}

func (s *Server) httpListStateMachines(ctx context.Context, in listStateMachinesInput) (any, error) {
	size, aerr := pageSize(in.MaxResults)
	if aerr != nil {
		return nil, aerr
	}
	from := int64(0)
	if in.NextToken != "" {
		t, aerr := decodeToken(in.NextToken, "ListStateMachines", "")
		if aerr != nil {
			return nil, aerr
		}
		from = t.Next
	}
	type item struct {
		StateMachineArn string `json:"stateMachineArn"`
		Name            string `json:"name"`
		Type            string `json:"type"`
		CreationDate    epoch  `json:"creationDate"`
	}
	s.mu.Lock()
	all := listed(s.machines, oldestFirst, func(m *machine) bool { return m.seq >= from })
	out := struct {
		StateMachines []item `json:"stateMachines"`
		NextToken     string `json:"nextToken,omitempty"`
	}{StateMachines: []item{}}
	for i, m := range all {
		if i == size {
			out.NextToken = pageToken{Op: "ListStateMachines", Next: m.seq}.encode()
			break
		}
		out.StateMachines = append(out.StateMachines, item{m.arn, m.name, typeStandard, epoch(m.created)})
	}
	s.mu.Unlock()
	return out, nil
}

func (s *Server) httpDeleteStateMachine(ctx context.Context, in struct{ StateMachineArn string }) (any, error) {
	return struct{}{}, s.DeleteStateMachine(ctx, in.StateMachineArn)
}
