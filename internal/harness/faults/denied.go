package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/internal/harness/invariants"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
)

// Denial is one action taken out of one function's role and what the rotation then did.
type Denial struct {
	Function, Action string
	// Setup names the situation that makes the function call the action.
	Setup      string
	Status     string
	Error      string
	Cause      string
	Violations []invariants.Violation
}

// CauseNamesAction reports whether the Fail's Cause says which action to grant.
func (d Denial) CauseNamesAction() bool { return strings.Contains(d.Cause, d.Action) }

// Situations in which a rotation makes the calls that the happy path does not.
const (
	SetupRotate        = "rotate"          // a user with its key in the parameter
	SetupInactiveKey   = "inactive key"    // plus an inactive second key: CreateKey makes room
	SetupStaleLock     = "stale lock"      // a lock left by an execution that no longer runs
	SetupNewParamFails = "new param fails" // no parameter yet and verification fails: restore deletes it
)

// DenialSetups are the situations in which each function calls an action the plain rotation
// does not reach; every other action is exercised by SetupRotate.
var DenialSetups = map[string]string{
	"createkey iam:DeleteAccessKey":  SetupInactiveKey,
	"createkey ssm:DeleteParameter":  SetupStaleLock,
	"storeparam ssm:DeleteParameter": SetupNewParamFails,
}

// NotEnforcedLocally explains the granted actions no local rotation can be refused: moto
// does not serve or does not check them. internal/harness/leastprivilege proves them with iam-simulate.
var NotEnforcedLocally = map[string]string{
	"logs:CreateLogStream":       "Lambda's own log delivery; the local host captures logs itself",
	"logs:PutLogEvents":          "Lambda's own log delivery; the local host captures logs itself",
	"states:DescribeExecution":   "served by the local Step Functions API, which does not evaluate IAM",
	"states:GetExecutionHistory": "served by the local Step Functions API, which does not evaluate IAM",
	"storeparam kms:Encrypt":     "SSM calls KMS for the SecureString on the caller's behalf; moto does not check it",
	"verifykey kms:Decrypt":      "SSM calls KMS to decrypt on the caller's behalf; moto does not check it",
	// A refused publish is logged and the rotation goes on by design: its outcome must not
	// depend on its notice. cmd/keyrotor's TestRotationOutcomesArePublishedAndMatchTheModulesPattern
	// proves the call is made and reaches the module's rule.
	"events:PutEvents": "not fatal by design (the outcome event is a notice; a refused publish is logged)",
}

// NotEnforced returns why fn's action cannot be refused locally ("" if it can).
func NotEnforced(fn, action string) string {
	if why := NotEnforcedLocally[fn+" "+action]; why != "" {
		return why
	}
	return NotEnforcedLocally[action]
}

// GrantedActions are the actions of fn's role as the engine module renders it.
func (b *Bench) GrantedActions(fn string) ([]string, error) {
	doc, err := b.Env.Engine.FunctionPolicy(fn)
	if err != nil {
		return nil, err
	}
	return doc.AllowedActions(), nil
}

// putRolePolicy replaces fn's role policy with the engine module's action list minus drop.
func (b *Bench) putRolePolicy(ctx context.Context, fn, drop string) error {
	actions, err := b.GrantedActions(fn)
	if err != nil {
		return err
	}
	actions = slices.DeleteFunc(slices.Clone(actions), func(a string) bool { return a == drop })
	doc, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []map[string]any{{
		"Sid": "EngineModuleActions", "Effect": "Allow", "Action": actions, "Resource": "*",
	}}})
	role := b.Env.Engine.FunctionName(fn)
	if _, err := b.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
		RoleName: aws.String(role), PolicyName: aws.String(role), PolicyDocument: aws.String(string(doc)),
	}); err != nil {
		return fmt.Errorf("put the policy of role %s: %w", role, err)
	}
	return nil
}

// Deny runs one rotation in setup with action removed from fn's role ("" removes nothing),
// restores the full policy, and checks the invariants.
func (b *Bench) Deny(ctx context.Context, fn, action, setup string) (d Denial, err error) {
	d = Denial{Function: fn, Action: action, Setup: setup}
	seed := Seed{}
	switch setup {
	case SetupInactiveKey:
		seed.InactiveKey = true
	case SetupNewParamFails:
		seed.NoParameter = true
	}
	t, err := b.NewTarget(ctx, "deny", seed)
	if err != nil {
		return d, err
	}
	if setup == SetupStaleLock {
		lock := `{"executionId":"` + b.Env.Engine.ExecutionARN("ended-long-ago") + `","acquiredAt":"2020-01-01T00:00:00Z","existingAccessKeyIds":[]}`
		if _, err := b.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(t.ParameterName + rotation.LockSuffix),
			Value: aws.String(lock), Type: ssmtypes.ParameterTypeString}); err != nil {
			return d, fmt.Errorf("leave a stale lock: %w", err)
		}
	}
	before, err := b.Checker.Snapshot(ctx, t)
	if err != nil {
		return d, err
	}
	if action != "" {
		if err := b.putRolePolicy(ctx, fn, action); err != nil {
			return d, err
		}
		defer func() {
			if rerr := b.putRolePolicy(context.WithoutCancel(ctx), fn, ""); rerr != nil && err == nil {
				err = rerr
			}
		}()
	}
	proxy := b.Env.Proxy
	proxy.ClearRules()
	if setup == SetupNewParamFails {
		// The new key fails verification once: the rollback restores (deletes) the parameter.
		proxy.AddRule(faultproxy.Rule{Service: "sts", Action: "GetCallerIdentity", Times: 1, Fault: faultproxy.AccessDenied})
	}
	proxy.ResetCalls()
	run, err := b.Rotate(ctx, "", Input(t))
	proxy.ClearRules()
	if err != nil {
		return d, err
	}
	d.Status, d.Error, d.Cause = run.Status, run.Error, run.Cause
	chk, err := b.Checker.Check(ctx, t, before, run.Outcome, invariants.Options{StaleLockHeals: true})
	if err != nil {
		return d, err
	}
	d.Violations = chk.Violations
	return d, nil
}

// CauseExcerpt is the part of a Cause around the denied action, for the table.
func CauseExcerpt(cause, action string) string {
	i := strings.Index(cause, "not allowed to call "+action)
	if i < 0 {
		i = strings.Index(cause, action)
	}
	if i < 0 {
		if len(cause) > 120 {
			return cause[:120] + "…"
		}
		return cause
	}
	from := max(0, i-60)
	to := min(len(cause), i+len(action)+80)
	return "…" + cause[from:to] + "…"
}
