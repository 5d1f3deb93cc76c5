package rotation

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// What each keyrotor Lambda serves. The Lambda plumbing (strict decoding, the named
// InvokeResponse_Error, lambda.Start, the SDK's configuration) is internal/lambdamain's.

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

// Function describes one rotation Lambda, functions/<Name>: the actions it serves and the
// constructor that builds only the SDK clients those actions call, so that its bootstrap links
// no other service package.
type Function struct {
	Name    string
	Actions []string
	// NeedKMS says whether the actions seal or store secrets (KEYROTOR_KMS_KEY_ID required).
	NeedKMS bool
	New     func(aws.Config, Config, *slog.Logger) *Steps
}

// The rotation Lambdas; together they serve every action once.
var (
	CreateKey     = Function{Name: CreateKeyFunction, Actions: []string{"begin", "create"}, NeedKMS: true, New: NewCreateKeySteps}
	StoreParam    = Function{Name: StoreParamFunction, Actions: []string{"store", "restore"}, NeedKMS: true, New: NewStoreParamSteps}
	VerifyKey     = Function{Name: VerifyKeyFunction, Actions: []string{"verify"}, New: NewVerifyKeySteps}
	DeleteOldKeys = Function{Name: DeleteOldKeysFunction, Actions: []string{"deactivate", "delete", "rollback", "release"}, New: NewDeleteOldKeysSteps}
)

// Functions lists the rotation Lambdas.
func Functions() []Function { return []Function{CreateKey, StoreParam, VerifyKey, DeleteOldKeys} }

// deadlineMargin is kept free at the end of an invocation to report a failure.
const deadlineMargin = 500 * time.Millisecond

// Dispatch serves the named actions: it runs the step the request names, refusing a request
// without an executionId or for an action another function serves, by name (InvalidInput).
func (s *Steps) Dispatch(actions ...string) func(ctx context.Context, req Request) (Rotation, error) {
	all := s.Actions()
	served := map[string]Step{}
	for _, a := range actions {
		served[a] = all[a]
	}
	return func(ctx context.Context, req Request) (Rotation, error) {
		// Stop AWS calls shortly before the Lambda is killed, so a hung call ends as a named
		// ServiceUnavailable the state machine can retry, not as a bare States.Timeout.
		if deadline, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline.Add(-deadlineMargin))
			defer cancel()
		}
		if req.ExecutionID == "" {
			return req.Rotation, NewError(InvalidInput, nil, `the event has no executionId; the Task must pass "executionId.$": "$$.Execution.Id"`)
		}
		step, ok := served[req.Action]
		if !ok {
			return req.Rotation, NewError(InvalidInput, nil, "action %q is not served by this function (it serves %s)",
				req.Action, strings.Join(slices.Sorted(maps.Keys(served)), ", "))
		}
		steps, err := s.forRequest(ctx, req)
		if err != nil {
			s.announce(ctx, req, req.Rotation, err)
			return req.Rotation, err
		}
		if steps != s {
			step = steps.Actions()[req.Action]
		}
		r, err := step(ctx, req)
		err = steps.expiredSession(err)
		s.announce(ctx, req, r, err) // the hub's bus, whichever account the step acted in
		return r, err
	}
}

// LogAttrs are the fields a log line about the request carries.
func (req Request) LogAttrs() []any {
	attrs := []any{"execution", req.ExecutionID, "user", req.Rotation.UserName, "step", req.Action}
	if req.Rotation.AccountID != "" {
		attrs = append(attrs, "account", req.Rotation.AccountID)
	}
	return attrs
}
