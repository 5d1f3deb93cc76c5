package rotation

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// A dry run (keyrotor rotate --dry-run): what a rotation started now would do, through the
// checks the steps run (Begin's whole validation, Create's room rule, retire's choice of keys
// and the in-use rule), with read calls only.

// planExecutionID stands for the execution a dry run does not start (no ARN: no real lock
// holder can have it).
const planExecutionID = "keyrotor-dry-run"

// Plan is what a rotation of one user would do now.
type Plan struct {
	Account       string `json:"account,omitempty"`
	UserName      string `json:"userName"`
	ParameterName string `json:"parameterName,omitempty"`
	Format        string `json:"format,omitempty"`
	// Refused: the named error (and cause) the rotation would fail with, changing nothing.
	Refused *Failure `json:"refused,omitempty"`
	// BreaksStaleLockOf is the ended execution whose lock Begin would break.
	BreaksStaleLockOf string `json:"breaksStaleLockOf,omitempty"`
	// DeleteFirst are the keys CreateKey deletes before creating one: a stale lock's abandoned
	// key, or an inactive key to make room under IAM's 2-key quota.
	DeleteFirst []string `json:"deleteFirst,omitempty"`
	CreateKey   bool     `json:"createKey"`
	// Retire are the old keys deactivated after the grace period, then deleted (or kept
	// inactive) after the inactive period.
	Retire          []RetirePlan `json:"retire,omitempty"`
	GraceSeconds    int          `json:"graceSeconds,omitempty"`
	InactiveSeconds int          `json:"inactiveSeconds,omitempty"`
	// ExtendsGrace: some old key is in use, so deactivation waits while it is used after the
	// new key is verified, by ExtendSeconds at most MaxExtensions times.
	ExtendsGrace  bool `json:"extendsGrace"`
	ExtendSeconds int  `json:"extendSeconds,omitempty"`
}

// RetirePlan is one old key a rotation would retire.
type RetirePlan struct {
	AccessKeyID string `json:"accessKeyId"`
	Status      string `json:"status"`
	// Delete: deleted after the inactive period; false: keyrotor never recorded the key (no
	// version of the parameter held it), so it is deactivated and kept (UnknownKey).
	Delete bool `json:"delete"`
	// LastUsed is IAM's record (nil: never used); LastUsedUntil adds LastUsedGranularity.
	LastUsed        *time.Time `json:"lastUsed,omitempty"`
	LastUsedUntil   *time.Time `json:"lastUsedUntil,omitempty"`
	LastUsedService string     `json:"lastUsedService,omitempty"`
	// InUse: used within graceSeconds + LastUsedGranularity before now, so its consumers are
	// taken to use it still when the new key is verified.
	InUse bool `json:"inUse"`
}

// Refusal reports whether err is a refusal a real run would end with (a named error about the
// user, its parameter or keys), rather than a failure to look (throttling, a missing
// permission of whoever plans, a fault).
func Refusal(err error) bool {
	var named *Error
	if !errors.As(err, &named) {
		return false
	}
	switch named.Name {
	case Throttled, ServiceUnavailable, AccessDenied, UnexpectedError:
		return false
	}
	return true
}

// Plan says what a rotation of in would do now. It returns an error only when it could not
// look; a rotation that would be refused is a Plan with Refused set.
func (s *Steps) Plan(ctx context.Context, in Rotation) (Plan, error) {
	p := Plan{Account: in.AccountID, UserName: in.UserName}
	req := Request{Action: "plan", ExecutionID: planExecutionID, Rotation: in}
	st, err := s.forRequest(ctx, req)
	if err == nil {
		err = st.plan(ctx, req, &p)
	}
	if err != nil && Refusal(err) {
		p.Refused = &Failure{Error: ErrorName(err), Cause: err.Error()}
		p.CreateKey, p.DeleteFirst, p.Retire, p.ExtendsGrace, p.ExtendSeconds = false, nil, nil, false, 0
		return p, nil
	}
	return p, err
}

func (s *Steps) plan(ctx context.Context, req Request, p *Plan) error {
	var (
		keys      []iamtypes.AccessKeyMetadata
		recorded  []string
		abandoned []string
	)
	// Begin, with a look at the lock instead of taking it: a RUNNING holder refuses as
	// acquireLock does; an ended one's lock would be broken.
	look := func(ctx context.Context, _ *slog.Logger, record lock, k []iamtypes.AccessKeyMetadata, _ string) error {
		keys, recorded = k, record.RecordedAccessKeyIDs
		parameterName := record.ParameterName
		held, err := readLock(ctx, s.SSM, parameterName)
		if err != nil || held == nil {
			return err
		}
		ex, err := s.describeHolder(ctx, held.ExecutionID)
		if err != nil {
			return err
		}
		if ex.running {
			return rotationInProgress(held.ExecutionID, parameterName)
		}
		p.BreaksStaleLockOf = held.ExecutionID
		abandoned = abandonedKeys(held, ex.stoppedAt, keys)
		return nil
	}
	r, err := s.begin(ctx, req, look)
	p.ParameterName, p.Format = r.ParameterName, r.Format
	if err != nil {
		return err
	}
	p.GraceSeconds, p.InactiveSeconds = *r.GraceSeconds, *r.InactiveSeconds

	// CreateKey: the abandoned keys go first, then room is made under the quota.
	st, err := readParameterState(ctx, s.SSM, r.ParameterName, false)
	if err != nil {
		return err
	}
	var existing []string
	for _, id := range otherKeys(keys, "") {
		if !slices.Contains(abandoned, id) {
			existing = append(existing, id)
		}
	}
	for _, id := range abandoned {
		keys = withoutKey(keys, id)
	}
	p.DeleteFirst = append(p.DeleteFirst, abandoned...)
	if len(keys) >= maxKeysPerUser {
		id, err := roomFor(r.UserName, keys, st.heldKey)
		if err != nil {
			return err
		}
		p.DeleteFirst = append(p.DeleteFirst, id)
		keys = withoutKey(keys, id)
	}
	p.CreateKey = true

	// Retiring: the previous keys, except one another keyrotor parameter of the user holds
	// (this one will hold the new key; a move's old one is deleted before retiring).
	tags, err := s.managedTags(ctx, r.UserName)
	if err != nil {
		return err
	}
	var held []string
	for _, name := range candidateParameters(s.Config.ParameterPrefix, r.UserName, tags) {
		if name == r.ParameterName || name == r.MovedFrom {
			continue
		}
		other, err := readParameterState(ctx, s.SSM, name, false)
		if err != nil {
			return err
		}
		held = append(held, other.heldKey)
	}
	previous := otherKeys(keys, "")
	now := s.now()
	inUseSince := now.Add(-time.Duration(p.GraceSeconds)*time.Second - LastUsedGranularity)
	for _, k := range keys {
		id := aws.ToString(k.AccessKeyId)
		if !retires(id, previous, existing, held) {
			continue
		}
		out, err := s.IAM.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(id)})
		if err != nil {
			return Classify(err, "read last use of key "+id)
		}
		// Delete deletes only keys the lock records (RecordedAccessKeyIDs); others are kept.
		rp := RetirePlan{AccessKeyID: id, Status: string(k.Status), Delete: slices.Contains(recorded, id)}
		if used := out.AccessKeyLastUsed; used != nil && used.LastUsedDate != nil {
			at := aws.ToTime(used.LastUsedDate).UTC()
			until := at.Add(LastUsedGranularity)
			rp.LastUsed, rp.LastUsedUntil, rp.LastUsedService = &at, &until, aws.ToString(used.ServiceName)
			rp.InUse = usedAfter(used, inUseSince)
		}
		p.ExtendsGrace = p.ExtendsGrace || rp.InUse
		p.Retire = append(p.Retire, rp)
	}
	if p.ExtendsGrace {
		p.ExtendSeconds = max(p.GraceSeconds, minExtendSeconds)
	}
	return nil
}

// roomFor is CreateKey's room rule under IAM's quota: the oldest inactive key the parameter
// does not hold goes, or the rotation fails TooManyActiveKeys.
func roomFor(user string, keys []iamtypes.AccessKeyMetadata, held string) (string, error) {
	for _, k := range keys {
		if id := aws.ToString(k.AccessKeyId); k.Status == iamtypes.StatusTypeInactive && id != held {
			return id, nil
		}
	}
	hint := "the parameter holds neither"
	if held != "" {
		hint = "the parameter holds " + held + "; deactivate the other one if nothing uses it"
	}
	return "", NewError(TooManyActiveKeys, nil,
		"user %s already has %d active access keys (%s), the most IAM allows; %s, then run the rotation again",
		user, len(keys), strings.Join(otherKeys(keys, ""), ", "), hint)
}

// retires is retire's choice: a key among the previous ones that existed when the lock was
// taken, neither the new key nor one a keyrotor parameter holds.
func retires(id string, previous, existing, held []string, newKeys ...string) bool {
	return slices.Contains(previous, id) && slices.Contains(existing, id) && !slices.Contains(newKeys, id) && !slices.Contains(held, id)
}

// usedAfter is the in-use rule: IAM records a use of the key after t.
func usedAfter(used *iamtypes.AccessKeyLastUsed, t time.Time) bool {
	return used != nil && aws.ToTime(used.LastUsedDate).After(t)
}

func rotationInProgress(holder, parameterName string) error {
	return NewError(RotationInProgress, nil,
		"another rotation (execution %s) holds %s; wait for it to finish or stop it, then start again",
		holder, lockName(parameterName))
}
