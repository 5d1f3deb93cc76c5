package rotation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Step is one rotation step.
type Step func(ctx context.Context, req Request) (Rotation, error)

// Actions maps each action of docs/steps.md to its step.
func (s *Steps) Actions() map[string]Step {
	return map[string]Step{
		"begin": s.Begin, "create": s.Create,
		"store": s.Store, "restore": s.Restore,
		"verify":     s.Verify,
		"deactivate": s.Deactivate, "delete": s.Delete, "rollback": s.Rollback, "release": s.Release,
	}
}

// deadlineMargin is kept free at the end of an invocation to report a failure.
const deadlineMargin = 500 * time.Millisecond

// Handler is a Lambda handler serving the named actions. It decodes the event strictly and
// returns failures as messages.InvokeResponse_Error, whose Type (the errorType that Step
// Functions Retry/Catch match) is the error's stable name.
func (s *Steps) Handler(actions ...string) func(ctx context.Context, event json.RawMessage) (*Rotation, error) {
	all := s.Actions()
	served := map[string]Step{}
	for _, a := range actions {
		served[a] = all[a]
	}
	return func(ctx context.Context, event json.RawMessage) (*Rotation, error) {
		// Stop AWS calls shortly before the Lambda is killed, so a hung call ends as a named
		// ServiceUnavailable the state machine can retry, not as a bare States.Timeout.
		if deadline, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline.Add(-deadlineMargin))
			defer cancel()
		}
		req, err := decodeRequest(event)
		if err == nil {
			step, ok := served[req.Action]
			if !ok {
				err = newError(InvalidInput, nil, "action %q is not served by this function (it serves %s)", req.Action, strings.Join(sortedKeys(served), ", "))
			} else {
				var r Rotation
				r, err = step(ctx, req)
				if err == nil {
					return &r, nil
				}
			}
		}
		stepLogger(s.Logger, req).Error("step failed", "error", ErrorName(err), "message", err.Error())
		return nil, messages.InvokeResponse_Error{Type: ErrorName(err), Message: err.Error()}
	}
}

func decodeRequest(event json.RawMessage) (Request, error) {
	var req Request
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		// json's messages name the field and the expected type, never the value.
		return req, newError(InvalidInput, nil, "the event is not a rotation request: %s", err)
	}
	if req.ExecutionID == "" {
		return req, newError(InvalidInput, nil, `the event has no executionId; the Task must pass "executionId.$": "$$.Execution.Id"`)
	}
	return req, nil
}

func sortedKeys(m map[string]Step) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// StepsFromEnv builds Steps for a Lambda with newSteps (one of the New*Steps constructors, so
// the bootstrap links only the SDK clients its actions use): SDK clients from
// config.LoadDefaultConfig (which honours AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>),
// Config from KEYROTOR_* and JSON logs on stdout.
func StepsFromEnv(ctx context.Context, needKMS bool, newSteps func(aws.Config, Config, *slog.Logger) *Steps) (*Steps, error) {
	conf, err := ConfigFromEnv(needKMS)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return newSteps(cfg, conf, slog.New(slog.NewJSONHandler(os.Stdout, nil))), nil
}

// Serve is a rotation Lambda's main: it builds the function's Steps from the environment and
// serves the given actions, or logs why it cannot start and exits 1, which Lambda reports as
// an init error.
func Serve(function string, needKMS bool, newSteps func(aws.Config, Config, *slog.Logger) *Steps, actions ...string) {
	steps, err := StepsFromEnv(context.Background(), needKMS, newSteps)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("keyrotor "+function+" cannot start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(steps.Handler(actions...))
}
