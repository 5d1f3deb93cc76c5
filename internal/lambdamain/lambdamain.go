// Package lambdamain is the Lambda plumbing every keyrotor function shares, kept out of the
// domain (internal/rotation): the one handler adapter (strict decoding, dispatch, failures as
// named Lambda errors) and main (the SDK's configuration, lambda.Start, exit on a failed init).
package lambdamain

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/keyrotor/keyrotor/internal/fleet"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

// Handler is a function's typed work: one decoded event in, one document out.
type Handler[In, Out any] func(ctx context.Context, in In) (Out, error)

// Function describes one keyrotor Lambda.
type Function[In, Out any] struct {
	// Name is the function's, as in functions/<Name>; it names the function in the log line
	// written when it cannot start.
	Name string
	// Event says what the event is, for the InvalidInput a malformed one gets: "a rotation
	// request".
	Event string
	// Setup builds the handler from the SDK's default configuration (which honours
	// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>) and the function's environment.
	Setup func(ctx context.Context, cfg aws.Config, log *slog.Logger) (Handler[In, Out], error)
}

// Main is a keyrotor Lambda's main: it sets the function up and serves it; if it cannot, it
// logs why and exits 1, which Lambda reports as an init error.
func Main[In, Out any](f Function[In, Out]) {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	h, err := f.setup(context.Background(), log)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("keyrotor "+f.Name+" cannot start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(Adapt(log, f.Event, h))
}

func (f Function[In, Out]) setup(ctx context.Context, log *slog.Logger) (Handler[In, Out], error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return f.Setup(ctx, cfg, log)
}

// Adapt makes h a Lambda handler. It decodes the event strictly (an unknown field or a wrong
// type is InvalidInput naming the field, never echoing a value) and returns a failure as a
// messages.InvokeResponse_Error whose Type is the error's stable name (rotation.ErrorName):
// the errorType that Step Functions' Retry and Catch match
// (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).
func Adapt[In, Out any](log *slog.Logger, event string, h Handler[In, Out]) func(ctx context.Context, event json.RawMessage) (*Out, error) {
	return func(ctx context.Context, raw json.RawMessage) (*Out, error) {
		var in In
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		err := dec.Decode(&in)
		if err != nil {
			// json's messages name the field and the expected type, never the value.
			err = &rotation.Error{Name: rotation.InvalidInput, Message: fmt.Sprintf("the event is not %s: %s", event, err), Err: err}
		} else {
			out, herr := h(ctx, in)
			if herr == nil {
				return &out, nil
			}
			err = herr
		}
		name := rotation.ErrorName(err)
		failed := log
		if l, ok := any(in).(interface{ LogAttrs() []any }); ok {
			failed = log.With(l.LogAttrs()...)
		}
		failed.Error("failed", "error", name, "message", err.Error())
		return nil, messages.InvokeResponse_Error{Type: name, Message: err.Error()}
	}
}

// Rotation describes the rotation Lambda fn: its Steps, configured from KEYROTOR_*, serving
// fn's actions.
func Rotation(fn rotation.Function) Function[rotation.Request, rotation.Rotation] {
	return Function[rotation.Request, rotation.Rotation]{
		Name:  fn.Name,
		Event: "a rotation request",
		Setup: func(_ context.Context, cfg aws.Config, log *slog.Logger) (Handler[rotation.Request, rotation.Rotation], error) {
			conf, err := rotation.ConfigFromEnv(fn.NeedKMS)
			if err != nil {
				return nil, err
			}
			return fn.New(cfg, conf, log).Dispatch(fn.Actions...), nil
		},
	}
}

// ListUsers describes the listusers Lambda: the fleet's Lister, over the IAM users under
// KEYROTOR_USER_PATH.
func ListUsers() Function[fleet.ListRequest, any] {
	return Function[fleet.ListRequest, any]{
		Name:  rotation.ListUsersFunction,
		Event: "a fleet listing request",
		Setup: func(_ context.Context, cfg aws.Config, log *slog.Logger) (Handler[fleet.ListRequest, any], error) {
			path, err := fleet.UserPathFromEnv()
			if err != nil {
				return nil, err
			}
			conf, err := rotation.ConfigFromEnv(false)
			if err != nil {
				return nil, err
			}
			return fleet.NewLister(cfg, conf, path, log).Serve, nil
		},
	}
}
