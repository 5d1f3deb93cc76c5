package rotation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// The record is the truth (docs/steps.md, "The record"). Begin writes it into the lock
// <parameterName>.lock under its execution's authority: the account, the user's name and IAM
// user id, the parameter, the format, the keys that existed. Each step advances it (the key
// created, the version replaced, when the key was verified, how often the grace was extended,
// when the old keys were deactivated) and records digests of the document it was given and
// returned. A step request names its execution and action; the rotation document it carries
// is a claim: it must be the document the execution's last step returned (or, for a retry of
// that step or a rollback after it, the one that step was given), and the action must come
// after that step. Anything else is NotAuthorized with nothing changed. What a step decides —
// whose keys, which key, which version, whether the waits are over — it reads from the record.

// follows lists, for each action, the record steps it may come after (itself: a retry).
var follows = map[string][]string{
	"create":     {"begin", "create"},
	"store":      {"create", "store"},
	"verify":     {"store", "verify"},
	"deactivate": {"verify", "deactivate"},
	"delete":     {"deactivate", "delete"},
	"restore":    {"create", "store", "restore"},
	"rollback":   {"create", "store", "restore"},
	"release":    {"begin", "create"},
}

// rollbackActions end a failure path: they also accept the document the last step was given,
// which is what a Catch passes on when that step's answer was lost.
var rollbackActions = []string{"restore", "rollback", "release"}

// digest is what a document claims: every field but those the state machine's Catch and the
// final failure add.
func digest(r Rotation) string {
	r.Error, r.Failure = nil, nil
	b, _ := json.Marshal(r) // a struct of strings, numbers and slices always marshals
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// recordOfNewKey is recordFor for a step (store, verify) that acts on the new key the record
// names: a record that names none refuses the step, NotAuthorized, before it does anything.
// The logger it returns names the key.
func (s *Steps) recordOfNewKey(ctx context.Context, req Request, running bool, step string) (*lock, *slog.Logger, error) {
	l, err := s.recordFor(ctx, req, running)
	if err != nil {
		return nil, nil, err
	}
	if l.NewAccessKeyID == "" {
		return nil, nil, NewError(NotAuthorized, nil, "%s for execution %s refused: its record names no new key; nothing was changed", step, req.ExecutionID)
	}
	return l, stepLogger(s.Logger, req).With("accessKeyId", l.NewAccessKeyID), nil
}

// recordFor returns the record of req's execution after checking the request against it: the
// lock on the parameter is the execution's, the execution is RUNNING (running says whether to
// ask), the action comes after the recorded step and the document is one the steps returned.
func (s *Steps) recordFor(ctx context.Context, req Request, running bool) (*lock, error) {
	r := req.Rotation
	if err := requireFields(req.Action, "parameterName", r.ParameterName); err != nil {
		return nil, err
	}
	l, err := ownLock(ctx, s.SSM, r.ParameterName, req.ExecutionID)
	if err != nil {
		var named *Error
		if errors.As(err, &named) && named.Name == RotationInProgress {
			return nil, NewError(NotAuthorized, nil, "%s; a step acts only under its own execution's record", named.Message)
		}
		return nil, err
	}
	if running {
		if _, err := s.describeRunning(ctx, r.ParameterName, req.ExecutionID); err != nil {
			return nil, err
		}
	}
	if err := l.checkClaims(req); err != nil {
		return nil, err
	}
	return l, nil
}

// checkClaims compares the request with the record: NotAuthorized names the first field that
// differs, or the step order, or says the document is not one the steps returned.
func (l *lock) checkClaims(req Request) error {
	r := req.Rotation
	refuse := func(format string, args ...any) error {
		return NewError(NotAuthorized, nil, "%s %s for execution %s refused: %s; the record in %s is the truth and nothing was changed",
			req.Action, r.ParameterName, req.ExecutionID, fmt.Sprintf(format, args...), lockName(r.ParameterName))
	}
	if l.Step == "" {
		// A lock written before records existed: it proves the holder, not the rotation.
		return refuse("the lock holds no record of this rotation (it was taken by an older keyrotor); stop the execution and start the rotation again")
	}
	for _, c := range []struct{ field, claimed, recorded string }{
		{"accountId", r.AccountID, l.AccountID},
		{"userName", r.UserName, l.UserName},
		{"userId", r.UserID, l.UserID},
		{"format", r.Format, l.Format},
		{"sesRegion", r.SESRegion, l.SESRegion},
		{"movedFrom", r.MovedFrom, l.MovedFrom},
	} {
		if c.claimed != c.recorded {
			return refuse("the request's %s is %q but the execution recorded %q", c.field, c.claimed, c.recorded)
		}
	}
	if r.NewAccessKeyID != "" && r.NewAccessKeyID != l.NewAccessKeyID {
		return refuse("the request names new key %s but the execution recorded %q", r.NewAccessKeyID, l.NewAccessKeyID)
	}
	if r.ParameterVersion != 0 && r.ParameterVersion != l.ParameterVersion || r.PreviousParameterVersion != 0 && r.PreviousParameterVersion != l.PreviousParameterVersion {
		return refuse("the request names parameter versions %d → %d but the execution recorded %d → %d",
			r.PreviousParameterVersion, r.ParameterVersion, l.PreviousParameterVersion, l.ParameterVersion)
	}
	if r.Extensions > l.Extensions {
		return refuse("the request counts %d grace extensions but the execution recorded %d", r.Extensions, l.Extensions)
	}
	if r.VerifiedAt != "" && (l.VerifiedAt == nil || r.VerifiedAt != l.VerifiedAt.UTC().Format(time.RFC3339Nano)) {
		return refuse("the request says the key was verified at %s but the execution recorded %s", r.VerifiedAt, formatTime(l.VerifiedAt))
	}
	if !slices.Contains(follows[req.Action], l.Step) {
		return refuse("the execution's last step was %s, and %s does not come after it", l.Step, req.Action)
	}
	d := digest(r)
	if d == l.Returned {
		return nil
	}
	if d == l.Given && (l.Step == req.Action || slices.Contains(rollbackActions, req.Action)) {
		return nil
	}
	return refuse("the rotation document is not the one the execution's %s step returned", l.Step)
}

// advance records that action turned given into returned, and writes the record.
func (s *Steps) advance(ctx context.Context, l *lock, action string, given, returned Rotation) error {
	l.Step, l.Given, l.Returned = action, digest(given), digest(returned)
	if err := writeLock(ctx, s.SSM, l.ParameterName, *l, true); err != nil {
		return Classify(err, "record step "+action+" in "+lockName(l.ParameterName))
	}
	return nil
}

// waitOver fails NotAuthorized unless the record has the time what runs from and floor
// seconds have passed on the engine's clock since state (the Task that recorded it) last
// ended: the engine's floors hold even for a step invoked directly with a genuine document,
// whatever the function's own clock says (enginetime.go). Waits above the floors are the
// state machine's Wait states.
func (s *Steps) waitOver(ctx context.Context, req Request, what string, since *time.Time, state string, floor int) error {
	if since == nil {
		return NewError(NotAuthorized, nil, "%s for execution %s refused: the record has no time %s; nothing was changed", req.Action, req.ExecutionID, what)
	}
	if floor <= 0 {
		return nil
	}
	elapsed, found, err := s.sinceStateEnded(ctx, req.ExecutionID, state)
	if err != nil {
		return err
	}
	if !found {
		return NewError(NotAuthorized, nil, "%s for execution %s refused: the execution's history shows no end of its %s state, from which the engine's floor of %d s %s runs; nothing was changed",
			req.Action, req.ExecutionID, state, floor, what)
	}
	if elapsed+clockSlack < time.Duration(floor)*time.Second {
		return NewError(NotAuthorized, nil, "%s for execution %s refused: the engine's floor of %d s %s has not passed: the execution's history (the engine's clock) shows %s since %s ended; nothing was changed",
			req.Action, req.ExecutionID, floor, what, elapsed.Round(time.Millisecond), state)
	}
	return nil
}

func formatTime(t *time.Time) string {
	if t == nil {
		return "none"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
