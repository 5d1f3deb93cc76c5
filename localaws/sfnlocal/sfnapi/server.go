// Package sfnapi serves the Step Functions API (AWS JSON 1.0, X-Amz-Target
// AWSStepFunctions.<Op>) over the local engine in internal/sfnlocal, so that the aws-sdk-go-v2
// sfn client and `aws stepfunctions --endpoint-url` work against it unchanged. Executions run
// in goroutines; their history is the engine's live event stream. Child executions started
// by `arn:aws:states:::states:startExecution[.sync[:2]]` Tasks are served by the same server,
// and so are the Map Runs of Distributed Map states (mapruns.go): their child executions are
// executions of this server, DescribeMapRun and ListMapRuns report them, and Options.Objects
// is the S3 of their ItemReader and ResultWriter.
//
// SigV4 signatures are accepted without checking: the server is a local stand-in for a
// service whose authorization is tested elsewhere (moto, iam-simulate).
package sfnapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyrotor/keyrotor/localaws/awsmodel"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// Options configure a Server.
type Options struct {
	// Tasks runs the Task states of every execution, except the startExecution integrations,
	// which this server serves itself.
	Tasks sfnlocal.TaskInvoker
	// Clock is the time of executions and API dates (nil: the wall clock).
	Clock sfnlocal.Clock
	// Region and AccountID go into the ARNs (us-east-1, 123456789012).
	Region, AccountID string
	// Logger receives one JSON-able record per execution start/end and per failed request
	// (nil: discarded). Execution input and output are never logged.
	Logger *slog.Logger
	// Objects is the S3 the ItemReader and ResultWriter of Distributed Map states use (nil:
	// such a Map fails with States.ItemReaderFailed / States.ResultWriterFailed).
	Objects sfnlocal.ObjectStore
}

// Server is a local Step Functions API endpoint. Its zero value is not usable; call New.
type Server struct {
	opts  Options
	clock sfnlocal.Clock
	log   *slog.Logger
	tasks sfnlocal.TaskInvoker // Options.Tasks with the startExecution integrations in front

	base   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	closed     bool
	seq        int64
	machines   map[string]*machine   // by ARN
	executions map[string]*execution // by ARN
	mapRuns    map[string]*mapRun    // by ARN

	// models checks each request of a served operation against Step Functions' API model.
	models    *awsmodel.Checker
	modelsErr error // botocore's models are missing: every request fails saying so
}

// maxBody bounds a request: a definition may be 1 MiB and an input 256 KiB, JSON-escaped.
const maxBody = 4 << 20

// New returns a server with no state machines.
func New(opts Options) *Server {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.AccountID == "" {
		opts.AccountID = "123456789012"
	}
	s := &Server{
		opts:       opts,
		clock:      opts.Clock,
		log:        opts.Logger,
		machines:   map[string]*machine{},
		executions: map[string]*execution{},
		mapRuns:    map[string]*mapRun{},
	}
	if s.clock == nil {
		s.clock = sfnlocal.RealClock()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.tasks = &nestedInvoker{s: s, next: opts.Tasks}
	s.models, s.modelsErr = awsmodel.NewChecker("sfnapi")
	s.base, s.cancel = context.WithCancel(context.Background())
	return s
}

// TaskInvoker returns the invoker executions of this server use: Options.Tasks, with the
// startExecution integrations served by this server.
func (s *Server) TaskInvoker() sfnlocal.TaskInvoker { return s.tasks }

// Close aborts every running execution and waits for them to end. Later StartExecution calls
// fail with ServiceUnavailable; the recorded executions stay readable.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if s.models != nil {
		_ = s.models.WriteTally()
	}
}

type handler func(s *Server, ctx context.Context, body []byte) (any, error)

// withInput is the handler of an operation whose request body decodes into In: every operation reads
// its body the same way (decode) before f sees it.
func withInput[In any](f func(s *Server, ctx context.Context, in In) (any, error)) handler {
	return func(s *Server, ctx context.Context, body []byte) (any, error) {
		var in In
		if err := decode(body, &in); err != nil {
			return nil, err
		}
		return f(s, ctx, in)
	}
}

var ops = map[string]handler{
	"CreateStateMachine":               withInput((*Server).httpCreateStateMachine),
	"UpdateStateMachine":               withInput((*Server).httpUpdateStateMachine),
	"DescribeStateMachine":             withInput((*Server).httpDescribeStateMachine),
	"ListStateMachines":                withInput((*Server).httpListStateMachines),
	"DeleteStateMachine":               withInput((*Server).httpDeleteStateMachine),
	"StartExecution":                   withInput((*Server).httpStartExecution),
	"DescribeExecution":                withInput((*Server).httpDescribeExecution),
	"ListExecutions":                   withInput((*Server).httpListExecutions),
	"GetExecutionHistory":              withInput((*Server).httpGetExecutionHistory),
	"StopExecution":                    withInput((*Server).httpStopExecution),
	"DescribeStateMachineForExecution": withInput((*Server).httpDescribeStateMachineForExecution),
	"DescribeMapRun":                   withInput((*Server).httpDescribeMapRun),
	"ListMapRuns":                      withInput((*Server).httpListMapRuns),
}

// ServeHTTP implements the AWS JSON 1.0 protocol of Step Functions. Each request is first
// checked against Step Functions' API model (awsmodel) and refused ValidationException, as
// Step Functions refuses it, when it breaks a constraint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newUUID()
	w.Header().Set("x-amzn-RequestId", reqID)
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "AWSStepFunctions.")
	h := ops[op]
	var err error
	var out any
	switch {
	case r.Method != http.MethodPost:
		err = apiErr(CodeUnknownOperation, "%s is not supported: the Step Functions API takes POST requests", r.Method)
	case !ok || h == nil:
		supported := make([]string, 0, len(ops))
		for name := range ops {
			supported = append(supported, name)
		}
		slices.Sort(supported)
		err = apiErr(CodeUnknownOperation, "X-Amz-Target %q is not an operation of this server; send AWSStepFunctions.<Operation>, one of %s", target, strings.Join(supported, ", "))
	default:
		var body []byte
		body, err = io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		switch {
		case err != nil:
			err = apiErr(CodeSerializationException, "reading the request body: %v", err)
		case len(body) > maxBody:
			err = apiErr(CodeValidationException, "the request body exceeds %d bytes", maxBody)
		default:
			if len(strings.TrimSpace(string(body))) == 0 {
				body = []byte("{}")
			}
			out, err = s.checkModel(r, body)
			if err == nil {
				out, err = h(s, r.Context(), body)
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if err != nil {
		var ae *Error
		if !errors.As(err, &ae) {
			ae = &Error{Code: "InternalFailure", Message: err.Error()}
			s.log.Error("sfn api request failed", "op", op, "requestId", reqID, "error", err.Error())
			w.Header().Set("X-Amzn-ErrorType", ae.Code)
			w.WriteHeader(http.StatusInternalServerError)
		} else {
			s.log.Info("sfn api request rejected", "op", op, "requestId", reqID, "code", ae.Code)
			w.Header().Set("X-Amzn-ErrorType", ae.Code)
			w.WriteHeader(ae.status())
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": ae.Code, "message": ae.Message})
		return
	}
	// Encoded as AWS does, without HTML escaping (definitions hold "<", ">" and "&" as is).
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if merr := enc.Encode(out); merr != nil {
		w.Header().Set("X-Amzn-ErrorType", "InternalFailure")
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": "InternalFailure", "message": merr.Error()})
		return
	}
	_, _ = w.Write(b.Bytes())
}

// checkModel refuses a request that breaks Step Functions' API model as Step Functions does:
// ValidationException, "1 validation error detected: Value ... failed to satisfy constraint".
func (s *Server) checkModel(r *http.Request, body []byte) (any, error) {
	if s.modelsErr != nil {
		return nil, fmt.Errorf("the local Step Functions API checks requests against AWS's models: %w", s.modelsErr)
	}
	if _, vs, _ := s.models.Check("states", awsmodel.FromHTTP(r, body)); len(vs) > 0 {
		return nil, apiErr(CodeValidationException, "%s", awsmodel.Message(vs))
	}
	return nil, nil
}

// decode reads an operation's request; fields it does not know are ignored, as AWS does.
func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return apiErr(CodeSerializationException, "the request body is not the JSON this operation takes: %v", err)
	}
	return nil
}

func required(field, value string) error {
	if value == "" {
		return apiErr(CodeValidationException, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
	}
	return nil
}

func (s *Server) now() time.Time { return s.clock.Now() }

func (s *Server) machineArn(name string) string {
	return fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", s.opts.Region, s.opts.AccountID, name)
}

func (s *Server) executionArn(machineName, name string) string {
	return fmt.Sprintf("arn:aws:states:%s:%s:execution:%s:%s", s.opts.Region, s.opts.AccountID, machineName, name)
}
