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
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

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

// listingAttempts is how often the listing tries one IAM read before its page fails, and
// listingMaxBackoff the longest wait between two tries: a read's worst case stays near 30 s.
const (
	listingAttempts   = 30
	listingMaxBackoff = time.Second
)

// ListUsers describes the listusers Lambda: the fleet's Lister, over the IAM users under
// KEYROTOR_USER_PATH.
func ListUsers() Function[rotation.ListRequest, any] {
	return Function[rotation.ListRequest, any]{
		Name:  rotation.ListUsersFunction,
		Event: "a fleet listing request",
		Setup: func(_ context.Context, cfg aws.Config, log *slog.Logger) (Handler[rotation.ListRequest, any], error) {
			path, err := rotation.UserPathFromEnv()
			if err != nil {
				return nil, err
			}
			conf, err := rotation.ConfigFromEnv(false)
			if err != nil {
				return nil, err
			}
			// Path-style requests when an endpoint override points S3 at a local stand-in (moto):
			// its address takes no bucket subdomain. AWS itself gets virtual-hosted requests.
			pathStyle := os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
			store := rotation.S3Store{Client: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })}
			l := &rotation.Lister{IAM: listingIAM(cfg), S3: store, Bucket: os.Getenv(rotation.EnvFleetBucket),
				UserPath: path, Logger: log, MemberAccounts: conf.MemberAccounts, Executions: sfn.NewFromConfig(cfg)}
			if len(conf.MemberAccounts) > 0 {
				// organizationalUnitId: the OU's accounts, read with the function's own role.
				l.Organizations = organizations.NewFromConfig(cfg)
			}
			if members := rotation.NewMembers(cfg, conf, rotation.ListUsersFunction, nil); members != nil {
				// A fleet over accountIds lists each member account's users through its
				// keyrotor-target role, in a session named after the fleet execution.
				l.MemberIAM = func(ctx context.Context, account, executionID string) (rotation.FleetIAM, error) {
					mcfg, err := members.Config(ctx, account, rotation.PartitionOf(executionID), rotation.SessionName(executionID))
					if err != nil {
						return nil, err
					}
					return listingIAM(mcfg), nil
				}
			}
			return l.Serve, nil
		},
	}
}

// listingIAM is the IAM client of the fleet's listing. The listing reads every user's tags
// (5,000 ListUserTags at IAM's per-account maximum, 100 a call), and one read out of attempts
// fails its whole page, which the state machine's Retry then reads again: under IAM throttling
// (20 calls/s in the fault proxy) the SDK's default 3 attempts and its client-side retry quota
// failed the fleet before any rotation started (bench/BENCHMARKS.md §7). The reads are
// idempotent: many attempts, each after at most a second, so that a page's retries fit well
// within the function's 60 s timeout.
func listingIAM(cfg aws.Config) *iam.Client {
	return iam.NewFromConfig(cfg, func(o *iam.Options) {
		o.Retryer = retry.NewStandard(func(s *retry.StandardOptions) {
			s.MaxAttempts, s.MaxBackoff, s.RateLimiter = listingAttempts, listingMaxBackoff, ratelimit.None
		})
	})
}
