package localenv

import (
	"context"
	"encoding/json"

	"github.com/keyrotor/keyrotor/internal/fleet"
)

// What only this package's tests do to a running engine: they are not the engine's API.

// SetRoleActions replaces the policy of fn's role with one granting exactly actions (on every
// resource), e.g. to show what a function does without one of its actions. moto applies it
// to the function's next call; ResetRolePolicy puts the engine module's actions back.
func (e *Env) SetRoleActions(ctx context.Context, fn string, actions []string) error {
	statement := map[string]any{"Effect": "Allow", "Action": actions, "Resource": "*"}
	if len(actions) == 0 {
		// A policy needs a statement; this one grants nothing.
		statement = map[string]any{"Effect": "Deny", "Action": "*", "Resource": "*"}
	}
	b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{statement}})
	if err != nil {
		return err
	}
	return e.putRolePolicy(ctx, fn, string(b))
}

// ResetRolePolicy gives fn's role the engine module's action list again.
func (e *Env) ResetRolePolicy(ctx context.Context, fn string) error {
	policy, err := e.RolePolicy(fn)
	if err != nil {
		return err
	}
	return e.putRolePolicy(ctx, fn, policy)
}

// SetMemberRoleActions replaces the keyrotor-target role's policy in account (setMemberRoleActions).
func (e *Env) SetMemberRoleActions(ctx context.Context, account string, actions []string) error {
	return e.setMemberRoleActions(ctx, account, actions)
}

// RefreshCredentials gives every function a new AssumeRole session now, as Up's refresh loop
// does before the sessions expire.
func (e *Env) RefreshCredentials(ctx context.Context) error { return e.deployAll(ctx) }

// FleetObjects is the fleet bucket's store, as the fleet Map reads and writes it.
func (e *Env) FleetObjects() fleet.S3Store { return e.fleetObjects() }
