package rotation

import (
	"context"
	"errors"
	"log/slog"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

type keyUsageReader interface {
	GetAccessKeyLastUsed(ctx context.Context, in *iam.GetAccessKeyLastUsedInput, opts ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
}

type keyStatusUpdater interface {
	UpdateAccessKey(ctx context.Context, in *iam.UpdateAccessKeyInput, opts ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
}

// Deactivate retires the old keys after the grace period. While one was used after the new
// key was verified it sets stillInUse and an extension instead, at most MaxExtensions times.
func (s *Steps) Deactivate(ctx context.Context, req Request) (Rotation, error) {
	r := req.Rotation
	l, err := s.recordFor(ctx, req, true)
	if err != nil {
		return r, err
	}
	if again, ok := extendedBefore(req, l); ok {
		return again, nil
	}
	// When the key was verified and how often the grace was extended are the record's. The
	// grace floor runs from the newest: an extension ends after the verification, so the floor
	// since it implies the one since the verification (one history page either way).
	what, since, from := "of grace after the new key was verified", l.VerifiedAt, VerifyState
	if l.VerifiedAt != nil && l.ExtendedAt != nil {
		what, since, from = "of grace after the last extension", l.ExtendedAt, DeactivateState
	}
	if err := s.waitOver(ctx, req, what, since, from, s.Config.MinGraceSeconds); err != nil {
		return r, err
	}
	verifiedAt := *l.VerifiedAt
	log := stepLogger(s.Logger, req).With("accessKeyId", l.NewAccessKeyID)
	tags, err := s.managedTags(ctx, l.UserName)
	if err != nil {
		return r, err
	}
	if err := s.removeMovedFrom(ctx, log, l); err != nil {
		return r, err
	}
	retiring, err := s.retirable(ctx, r, l, tags)
	if err != nil {
		return r, err
	}
	if l.Extensions < MaxExtensions {
		for _, k := range retiring {
			id := aws.ToString(k.AccessKeyId)
			out, err := s.IAM.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(id)})
			if err != nil {
				return r, Classify(err, "read last use of key "+id)
			}
			if used := out.AccessKeyLastUsed; used != nil && keyStillInUse(used.LastUsedDate, verifiedAt, s.now(), s.inUseWindow()) {
				now := s.now().UTC()
				l.Extensions, l.ExtendedAt = l.Extensions+1, &now
				r = extended(r, l)
				log.Info("old key still in use; extending grace", "oldAccessKeyId", id,
					"lastUsed", aws.ToTime(used.LastUsedDate), "extensions", r.Extensions, "extendSeconds", r.ExtendSeconds)
				return r, s.advance(ctx, l, req.Action, req.Rotation, r)
			}
		}
	} else {
		log.Warn("grace extensions exhausted; deactivating anyway", "extensions", l.Extensions)
	}
	r.StillInUse, r.ExtendSeconds = false, 0
	for _, k := range retiring {
		id := aws.ToString(k.AccessKeyId)
		if k.Status != iamtypes.StatusTypeInactive {
			if _, err := s.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
				UserName: aws.String(l.UserName), AccessKeyId: aws.String(id), Status: iamtypes.StatusTypeInactive,
			}); err != nil {
				return r, Classify(err, "deactivate key "+id)
			}
		}
		if !slices.Contains(r.DeactivatedAccessKeyIDs, id) {
			r.DeactivatedAccessKeyIDs = append(r.DeactivatedAccessKeyIDs, id)
		}
		log.Info("old key deactivated", "oldAccessKeyId", id)
	}
	if l.DeactivatedAt == nil {
		now := s.now().UTC()
		l.DeactivatedAt = &now
	}
	return r, s.advance(ctx, l, req.Action, req.Rotation, r)
}

// extended is the answer of a deactivate that extends the grace, as the record counts it.
func extended(r Rotation, l *lock) Rotation {
	r.StillInUse, r.Extensions = true, l.Extensions
	r.ExtendSeconds = max(*defaulted(r.GraceSeconds, DefaultGraceSeconds), minExtendSeconds)
	return r
}

// extendedBefore answers a deactivate retried by its Task after it extended the grace and its
// answer was lost (same document, record advanced by it): the record's answer again. Measuring
// the floor since that extension would refuse it — its state never ended — and it must not
// extend twice.
func extendedBefore(req Request, l *lock) (Rotation, bool) {
	if l.Step != req.Action || l.ExtendedAt == nil || digest(req.Rotation) != l.Given {
		return req.Rotation, false
	}
	r := extended(req.Rotation, l)
	return r, digest(r) == l.Returned
}

// Delete deletes the old keys that are inactive and not held by the parameter, then releases
// the lock. A key someone re-activated is left alone.
func (s *Steps) Delete(ctx context.Context, req Request) (Rotation, error) {
	r := req.Rotation
	if err := requireFields("delete", "userName", r.UserName, "parameterName", r.ParameterName); err != nil {
		return r, err
	}
	log := stepLogger(s.Logger, req).With("accessKeyId", r.NewAccessKeyID)
	if held, err := readLock(ctx, s.SSM, r.ParameterName); err != nil {
		return r, err
	} else if held == nil {
		// A retry after the lock was released (the answer was lost): everything was done.
		return s.deletedBefore(ctx, log, req)
	}
	l, err := s.recordFor(ctx, req, true)
	if err != nil {
		return r, err
	}
	if err := s.waitOver(ctx, req, "of inactivity after the old keys were deactivated", l.DeactivatedAt, DeactivateState, s.Config.MinInactiveSeconds); err != nil {
		return r, err
	}
	tags, err := s.managedTags(ctx, l.UserName)
	if err != nil {
		return r, err
	}
	retiring, err := s.retirable(ctx, r, l, tags)
	if err != nil {
		return r, err
	}
	for _, k := range retiring {
		id := aws.ToString(k.AccessKeyId)
		if k.Status != iamtypes.StatusTypeInactive {
			log.Warn("old key is active again; leaving it", "oldAccessKeyId", id)
			continue
		}
		if !slices.Contains(l.RecordedAccessKeyIDs, id) {
			// Not a key any version of the parameter held: someone else's, made by hand.
			// Deactivated (after the grace period) but never deleted.
			log.Warn("old key keyrotor never recorded; keeping it inactive", "oldAccessKeyId", id, "cause", UnknownKey)
			if !slices.Contains(r.KeptInactiveAccessKeyIDs, id) {
				r.KeptInactiveAccessKeyIDs = append(r.KeptInactiveAccessKeyIDs, id)
			}
			continue
		}
		if err := deleteKey(ctx, s.IAM, l.UserName, id); err != nil {
			return r, err
		}
		log.Info("old key deleted", "oldAccessKeyId", id)
		r.DeletedAccessKeyIDs = append(r.DeletedAccessKeyIDs, id)
	}
	// A retry after a lost answer finds deactivated keys already gone: they count as deleted.
	for _, id := range r.DeactivatedAccessKeyIDs {
		if !slices.Contains(r.DeletedAccessKeyIDs, id) && !containsKey(retiring, id) {
			r.DeletedAccessKeyIDs = append(r.DeletedAccessKeyIDs, id)
		}
	}
	released, err := releaseLock(ctx, s.SSM, r.ParameterName, req.ExecutionID)
	if err != nil {
		return r, err
	}
	log.Info("rotation complete", "lockReleased", released, "deletedAccessKeyIds", r.DeletedAccessKeyIDs)
	return r, nil
}

// deletedBefore answers a Delete retried after it released the lock: it deletes nothing (no
// lock proves its authority) and counts the deactivated keys that are gone as deleted.
func (s *Steps) deletedBefore(ctx context.Context, log *slog.Logger, req Request) (Rotation, error) {
	r := req.Rotation
	if _, err := s.describeRunning(ctx, r.ParameterName, req.ExecutionID); err != nil {
		return r, err
	}
	keys, err := listKeys(ctx, s.IAM, r.UserName)
	if err != nil {
		return r, err
	}
	for _, id := range r.DeactivatedAccessKeyIDs {
		if !slices.Contains(r.DeletedAccessKeyIDs, id) && !slices.Contains(r.KeptInactiveAccessKeyIDs, id) && !containsKey(keys, id) {
			r.DeletedAccessKeyIDs = append(r.DeletedAccessKeyIDs, id)
		}
	}
	log.Info("lock already released; nothing left to delete", "deletedAccessKeyIds", r.DeletedAccessKeyIDs)
	return r, nil
}

// retirable are the user's existing keys among previousAccessKeyIds that the lock recorded as
// existing when it was taken, except the new key and any key a keyrotor parameter holds.
func (s *Steps) retirable(ctx context.Context, r Rotation, l *lock, tags map[string]string) ([]iamtypes.AccessKeyMetadata, error) {
	st, err := readParameterState(ctx, s.SSM, l.ParameterName, false)
	if err != nil {
		return nil, err
	}
	// Never a key a keyrotor parameter of this user holds: this one, the default or tagged
	// name (Begin allows one; this holds even if another appeared since).
	held := []string{st.heldKey}
	for _, name := range candidateParameters(s.Config.ParameterPrefix, l.UserName, tags) {
		if name == l.ParameterName {
			continue
		}
		other, err := readParameterState(ctx, s.SSM, name, false)
		if err != nil {
			return nil, err
		}
		held = append(held, other.heldKey)
	}
	keys, err := listKeys(ctx, s.IAM, l.UserName)
	if err != nil {
		return nil, err
	}
	var out []iamtypes.AccessKeyMetadata
	for _, k := range keys {
		id := aws.ToString(k.AccessKeyId)
		if retires(id, r.PreviousAccessKeyIDs, l.ExistingAccessKeyIDs, held, r.NewAccessKeyID, l.NewAccessKeyID) {
			out = append(out, k)
		}
	}
	return out, nil
}

// removeMovedFrom ends a move: once the new key is verified in the new parameter, the old
// parameter (still recorded as the user's) is deleted, so that its key can be retired.
func (s *Steps) removeMovedFrom(ctx context.Context, log *slog.Logger, l *lock) error {
	if l.MovedFrom == "" || l.MovedFrom == l.ParameterName {
		return nil
	}
	st, err := readParameterState(ctx, s.SSM, l.MovedFrom, false)
	if err != nil || !st.exists {
		return err
	}
	// Only the user's own parameter, holding a key this record lists, is deleted.
	if !slices.Contains(l.ExistingAccessKeyIDs, st.heldKey) {
		return NewError(NotAuthorized, nil,
			"the move asks to delete parameter %s, but it holds key %s, which is not a key IAM user %s had when this rotation began; nothing was deleted",
			l.MovedFrom, st.heldKey, l.UserName)
	}
	if _, err := s.SSM.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(l.MovedFrom)}); err != nil {
		var notFound *ssmtypes.ParameterNotFound
		if !errors.As(err, &notFound) {
			return Classify(err, "delete parameter "+l.MovedFrom+" that the key moved away from")
		}
	}
	log.Info("moved: old parameter deleted after the new key was verified", "movedFrom", l.MovedFrom, "parameter", l.ParameterName)
	return nil
}

func containsKey(keys []iamtypes.AccessKeyMetadata, id string) bool { return findKey(keys, id) != nil }
