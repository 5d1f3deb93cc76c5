// Package invariants checks, with administrator credentials against moto, what must hold after
// any keyrotor rotation — however it ended: the parameter holds a key that authenticates as
// the user (or the execution never changed it), the user has at most two keys and none that no
// parameter version or running execution accounts for, the lock is released or breakable, the
// execution ended SUCCEEDED or FAILED with a named Error and a Cause a person can act on, and no
// secret access key appears in any history event, log line or error.
package invariants

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// Target is one user's rotation: the IAM user and the parameter that holds its key.
type Target struct {
	UserName, ParameterName string
	// Format is the parameter's value format: "json" (default) or "raw".
	Format string
	// AccountID is the member account of the user and its parameter ("": the engine's own).
	AccountID string
}

// Key is one access key as IAM lists it.
type Key struct {
	ID     string
	Active bool
}

// Version is one parameter version. Value holds a secret: never print a Version.
type Version struct {
	Version     int64
	Value       string
	Description string
}

// HeldKey is the AccessKeyId the version holds: from a json value, else from keyrotor's
// Description "keyrotor:<id>".
func (v Version) HeldKey() string {
	var k struct{ AccessKeyId string }
	if json.Unmarshal([]byte(v.Value), &k) == nil && k.AccessKeyId != "" {
		return k.AccessKeyId
	}
	return strings.TrimPrefix(v.Description, "keyrotor:")
}

// secret is the secret access key the version holds.
func (v Version) secret() string {
	var k struct{ SecretAccessKey string }
	if json.Unmarshal([]byte(v.Value), &k) == nil && k.SecretAccessKey != "" {
		return k.SecretAccessKey
	}
	return v.Value
}

// State is what IAM and SSM hold for a target at one moment.
type State struct {
	UserExists bool
	Keys       []Key
	// Versions of the parameter, oldest first (none: no parameter).
	Versions []Version
	// Lock is the value of <parameterName>.lock ("" and LockExists false: no lock).
	Lock       string
	LockExists bool
}

// Current is the parameter's newest version, nil when there is no parameter.
func (s State) Current() *Version {
	if len(s.Versions) == 0 {
		return nil
	}
	return &s.Versions[len(s.Versions)-1]
}

// Equal reports whether nothing a rotation may change differs between s and o.
func (s State) Equal(o State) bool {
	return s.UserExists == o.UserExists && slices.Equal(s.Keys, o.Keys) &&
		slices.Equal(s.Versions, o.Versions) && s.Lock == o.Lock && s.LockExists == o.LockExists
}

// Diff says in words what differs between s (before) and o (after), without secrets.
func (s State) Diff(o State) string {
	var d []string
	if s.UserExists != o.UserExists {
		d = append(d, fmt.Sprintf("user exists %v → %v", s.UserExists, o.UserExists))
	}
	if !slices.Equal(s.Keys, o.Keys) {
		d = append(d, fmt.Sprintf("keys %v → %v", s.Keys, o.Keys))
	}
	if !slices.Equal(s.Versions, o.Versions) {
		d = append(d, fmt.Sprintf("parameter versions %d (current holds %q) → %d (current holds %q)",
			len(s.Versions), heldOf(s.Current()), len(o.Versions), heldOf(o.Current())))
	}
	if s.Lock != o.Lock || s.LockExists != o.LockExists {
		d = append(d, fmt.Sprintf("lock %q → %q", s.Lock, o.Lock))
	}
	return strings.Join(d, "; ")
}

func heldOf(v *Version) string {
	if v == nil {
		return ""
	}
	return v.HeldKey()
}

// Checker reads IAM and SSM as the administrator. Its config must reach moto directly, not
// through a fault proxy, so that injected faults never disturb the check.
type Checker struct {
	// Admin is the administrator's configuration.
	Admin aws.Config
	// ConfigFor returns a configuration signing with the given key, for the STS check of the
	// key the parameter holds.
	ConfigFor func(accessKeyID, secretAccessKey string) aws.Config
	// UserARN returns the ARN a key of user must authenticate as.
	UserARN func(user string) string
	// AccountAdmin returns the administrator's configuration in a member account (straight
	// to moto too), for targets in one.
	AccountAdmin func(account string) aws.Config
}

// in is the checker for t's account: the member account's administrator, and user ARNs there.
func (c *Checker) in(t Target) *Checker {
	if t.AccountID == "" || c.AccountAdmin == nil {
		return c
	}
	m := *c
	m.Admin = c.AccountAdmin(t.AccountID)
	m.UserARN = func(user string) string { return "arn:aws:iam::" + t.AccountID + ":user/" + user }
	return &m
}

// Snapshot reads the target's state.
func (c *Checker) Snapshot(ctx context.Context, t Target) (State, error) {
	c = c.in(t)
	var st State
	iamc := iam.NewFromConfig(c.Admin)
	out, err := iamc.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(t.UserName)})
	var noUser *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &noUser):
	case err != nil:
		return st, fmt.Errorf("list access keys of %s: %w", t.UserName, err)
	default:
		st.UserExists = true
		for _, k := range out.AccessKeyMetadata {
			st.Keys = append(st.Keys, Key{ID: aws.ToString(k.AccessKeyId), Active: k.Status == iamtypes.StatusTypeActive})
		}
		slices.SortFunc(st.Keys, func(a, b Key) int { return strings.Compare(a.ID, b.ID) })
	}
	ssmc := ssm.NewFromConfig(c.Admin)
	pages := ssm.NewGetParameterHistoryPaginator(ssmc, &ssm.GetParameterHistoryInput{
		Name: aws.String(t.ParameterName), WithDecryption: aws.Bool(true),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		var nf *ssmtypes.ParameterNotFound
		if errors.As(err, &nf) {
			break
		}
		if err != nil {
			return st, fmt.Errorf("read history of %s: %w", t.ParameterName, err)
		}
		for _, v := range page.Parameters {
			st.Versions = append(st.Versions, Version{Version: v.Version, Value: aws.ToString(v.Value), Description: aws.ToString(v.Description)})
		}
	}
	slices.SortFunc(st.Versions, func(a, b Version) int { return int(a.Version - b.Version) })
	lock, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(t.ParameterName + ".lock")})
	var nf *ssmtypes.ParameterNotFound
	switch {
	case errors.As(err, &nf):
	case err != nil:
		return st, fmt.Errorf("read lock of %s: %w", t.ParameterName, err)
	default:
		st.Lock, st.LockExists = aws.ToString(lock.Parameter.Value), true
	}
	return st, nil
}

// Secrets are the secret access keys the state's parameter versions hold (what an
// administrator can learn), to scan outputs for.
func (s State) Secrets() []string {
	var out []string
	for _, v := range s.Versions {
		if sec := v.secret(); len(sec) >= 16 && !slices.Contains(out, sec) {
			out = append(out, sec)
		}
	}
	return out
}

// Outcome is what a rotation left besides AWS state: how its execution ended and every text
// it produced.
type Outcome struct {
	ExecutionArn string
	Status       string // SUCCEEDED | FAILED | TIMED_OUT | ABORTED | RUNNING
	Error, Cause string
	// Texts are every history event (as JSON), log line and error the run produced.
	Texts []string
	// Running reports whether an execution (by ARN) is still RUNNING.
	Running func(executionArn string) bool
}

// namedError reports whether name is one a person can look up: keyrotor's
// (rotation.ErrorNames, docs/steps.md) or AWS's own Lambda/Step Functions failure names.
// UnexpectedError names nothing.
func namedError(name string) bool {
	return slices.Contains(rotation.ErrorNames, name) || strings.HasPrefix(name, "Runtime.") ||
		strings.HasPrefix(name, "Sandbox.") || strings.HasPrefix(name, "Lambda.")
}

// Violation is one broken invariant.
type Violation struct {
	Invariant string // parameter | keys | lock | outcome | secret | unchanged
	Detail    string
}

func (v Violation) String() string { return v.Invariant + ": " + v.Detail }

// Options tune Check.
type Options struct {
	// Strict counts no key as accounted for by having existed before the run: every key must
	// be held by a parameter version or a running execution.
	Strict bool
	// StaleLockHeals accepts keys recorded in a lock whose execution no longer runs; the caller
	// then proves the next rotation breaks that lock and cleans them up (Result.StaleLock).
	StaleLockHeals bool
	// Secrets learned otherwise (e.g. from earlier snapshots of the same parameter).
	Secrets []string
	// Adopts is the key a stale lock's execution stored (Result.StaleKey): the next rotation
	// finishes that rotation with it instead of making another (docs/steps.md, "Stale
	// records"), so a success holding it counts as rotated.
	Adopts string
}

// Result is what Check found.
type Result struct {
	After      State
	Violations []Violation
	// StaleLock is set when a lock is left whose execution no longer runs.
	StaleLock bool
	// StaleKey is the new key that stale lock records (if any).
	StaleKey string
}

// Check reads the target after a run and returns every broken invariant. before is the
// snapshot taken before the run.
func (c *Checker) Check(ctx context.Context, t Target, before State, out Outcome, opts Options) (Result, error) {
	after, err := c.Snapshot(ctx, t)
	c = c.in(t)
	res := Result{After: after}
	if err != nil {
		return res, err
	}
	var vs []Violation
	add := func(inv, format string, args ...any) {
		vs = append(vs, Violation{Invariant: inv, Detail: fmt.Sprintf(format, args...)})
	}

	// The parameter: a working key of the user, or untouched.
	cur, prev := after.Current(), before.Current()
	switch {
	case cur == nil && prev != nil:
		add("parameter", "parameter %s existed before the run (version %d) and is gone", t.ParameterName, prev.Version)
	case cur != nil && prev != nil && cur.Version == prev.Version && cur.Value == prev.Value:
		// Never changed: whatever it held before it still holds; its key must not have been taken away.
		if id := cur.HeldKey(); keyIn(before.Keys, id, true) && !keyIn(after.Keys, id, true) {
			add("parameter", "parameter %s still holds key %s, which the run deactivated or deleted", t.ParameterName, id)
		}
	case cur != nil:
		if problem := c.authenticates(ctx, t, *cur, after.Keys); problem != "" {
			add("parameter", "parameter %s version %d: %s", t.ParameterName, cur.Version, problem)
		}
	}
	// Earlier versions are kept (SSM keeps 100; a rotation adds at most two).
	for _, v := range before.Versions {
		if !slices.ContainsFunc(after.Versions, func(a Version) bool { return a.Version == v.Version }) && cur != nil {
			add("parameter", "version %d of %s was lost", v.Version, t.ParameterName)
		}
	}

	// Keys: at most two, each accounted for.
	if len(after.Keys) > 2 {
		add("keys", "user %s has %d keys", t.UserName, len(after.Keys))
	}
	var lockKeys []string
	if after.LockExists {
		var l struct {
			ExecutionID    string `json:"executionId"`
			NewAccessKeyID string `json:"newAccessKeyId"`
		}
		_ = json.Unmarshal([]byte(after.Lock), &l)
		running := l.ExecutionID != "" && out.Running != nil && out.Running(l.ExecutionID)
		if running || opts.StaleLockHeals {
			lockKeys = append(lockKeys, l.NewAccessKeyID)
		}
		if !running {
			res.StaleLock, res.StaleKey = true, l.NewAccessKeyID
		}
		// A lock held by an execution that no longer runs is broken by the next rotation;
		// one held by a running execution is that execution's to release.
	}
	for _, k := range after.Keys {
		accounted := slices.ContainsFunc(after.Versions, func(v Version) bool { return v.HeldKey() == k.ID }) ||
			slices.Contains(lockKeys, k.ID) || (!opts.Strict && keyIn(before.Keys, k.ID, false))
		if !accounted {
			add("keys", "key %s of %s is held by no parameter version and no running execution", k.ID, t.UserName)
		}
	}

	// The execution's end.
	switch out.Status {
	case "SUCCEEDED":
		adopted := opts.Adopts != "" && cur != nil && cur.HeldKey() == opts.Adopts
		if !adopted && (cur == nil || cur.HeldKey() == "" || (prev != nil && cur.Version == prev.Version)) {
			add("outcome", "execution SUCCEEDED but parameter %s holds no new key", t.ParameterName)
		}
	case "FAILED":
		if !namedError(out.Error) {
			add("outcome", "execution FAILED with Error %q, which names no failure a person can look up", out.Error)
		}
		if problem := actionable(out.Cause, t); problem != "" {
			add("outcome", "Cause %q: %s", clip(out.Cause), problem)
		}
	default:
		add("outcome", "execution ended %s (Error %q, Cause %q)", out.Status, out.Error, clip(out.Cause))
	}

	// Secrets: nowhere in history, logs or errors.
	secrets := append(append(before.Secrets(), after.Secrets()...), opts.Secrets...)
	for _, s := range secrets {
		forms := []string{s, base64.StdEncoding.EncodeToString([]byte(s))}
		for _, text := range append(slices.Clone(out.Texts), out.Error, out.Cause) {
			for _, f := range forms {
				if strings.Contains(text, f) {
					add("secret", "a secret access key appears in %q", clip(redact(text, f)))
				}
			}
		}
	}
	res.Violations = vs
	return res, nil
}

// authenticates reports "" when v holds an active key of the user that STS accepts as the user.
func (c *Checker) authenticates(ctx context.Context, t Target, v Version, keys []Key) string {
	id := v.HeldKey()
	if id == "" {
		return "holds no AccessKeyId"
	}
	if !keyIn(keys, id, true) {
		return fmt.Sprintf("holds key %s, which is not an active key of %s", id, t.UserName)
	}
	out, err := sts.NewFromConfig(c.ConfigFor(id, v.secret())).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Sprintf("key %s does not authenticate: %v", id, redact(err.Error(), v.secret()))
	}
	if got := aws.ToString(out.Arn); got != c.UserARN(t.UserName) {
		return fmt.Sprintf("key %s authenticates as %s, not %s", id, got, c.UserARN(t.UserName))
	}
	return ""
}

// actionable reports "" when a Fail's Cause is prose naming what happened to whom.
func actionable(cause string, t Target) string {
	c := strings.TrimSpace(cause)
	switch {
	case c == "":
		return "empty"
	case strings.HasPrefix(c, "{") || strings.HasPrefix(c, "["):
		return "a raw document, not words"
	case strings.Contains(c, "%!"):
		return "a broken format string"
	case !strings.Contains(c, t.UserName) && !strings.Contains(c, t.ParameterName):
		return "names neither the user nor the parameter"
	}
	return ""
}

func keyIn(keys []Key, id string, activeOnly bool) bool {
	return slices.ContainsFunc(keys, func(k Key) bool { return k.ID == id && (k.Active || !activeOnly) })
}

func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[SECRET]")
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
