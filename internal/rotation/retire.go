package rotation

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
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
	if err := requireFields("deactivate", "userName", r.UserName, "parameterName", r.ParameterName, "newAccessKeyId", r.NewAccessKeyID, "verifiedAt", r.VerifiedAt); err != nil {
		return r, err
	}
	verifiedAt, err := time.Parse(time.RFC3339, r.VerifiedAt)
	if err != nil {
		return r, newError(InvalidInput, err, "verifiedAt %q is not an RFC 3339 time", r.VerifiedAt)
	}
	log := stepLogger(s.Logger, req).With("accessKeyId", r.NewAccessKeyID)
	if _, err := ownLock(ctx, s.SSM, r.ParameterName, req.ExecutionID); err != nil {
		return r, err
	}
	retiring, err := s.retirable(ctx, r)
	if err != nil {
		return r, err
	}
	if r.Extensions < MaxExtensions {
		for _, k := range retiring {
			id := aws.ToString(k.AccessKeyId)
			out, err := s.IAM.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(id)})
			if err != nil {
				return r, classify(err, "read last use of key "+id)
			}
			if used := out.AccessKeyLastUsed; used != nil && aws.ToTime(used.LastUsedDate).After(verifiedAt) {
				r.StillInUse, r.Extensions = true, r.Extensions+1
				r.ExtendSeconds = max(*defaulted(r.GraceSeconds, DefaultGraceSeconds), minExtendSeconds)
				log.Info("old key still in use; extending grace", "oldAccessKeyId", id,
					"lastUsed", aws.ToTime(used.LastUsedDate), "extensions", r.Extensions, "extendSeconds", r.ExtendSeconds)
				return r, nil
			}
		}
	} else {
		log.Warn("grace extensions exhausted; deactivating anyway", "extensions", r.Extensions)
	}
	r.StillInUse, r.ExtendSeconds = false, 0
	for _, k := range retiring {
		id := aws.ToString(k.AccessKeyId)
		if k.Status != iamtypes.StatusTypeInactive {
			if _, err := s.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
				UserName: aws.String(r.UserName), AccessKeyId: aws.String(id), Status: iamtypes.StatusTypeInactive,
			}); err != nil {
				return r, classify(err, "deactivate key "+id)
			}
		}
		if !contains(r.DeactivatedAccessKeyIDs, id) {
			r.DeactivatedAccessKeyIDs = append(r.DeactivatedAccessKeyIDs, id)
		}
		log.Info("old key deactivated", "oldAccessKeyId", id)
	}
	return r, nil
}

// Delete deletes the old keys that are inactive and not held by the parameter, then releases
// the lock. A key someone re-activated is left alone.
func (s *Steps) Delete(ctx context.Context, req Request) (Rotation, error) {
	r := req.Rotation
	if err := requireFields("delete", "userName", r.UserName, "parameterName", r.ParameterName); err != nil {
		return r, err
	}
	log := stepLogger(s.Logger, req).With("accessKeyId", r.NewAccessKeyID)
	retiring, err := s.retirable(ctx, r)
	if err != nil {
		return r, err
	}
	for _, k := range retiring {
		id := aws.ToString(k.AccessKeyId)
		if k.Status != iamtypes.StatusTypeInactive {
			log.Warn("old key is active again; leaving it", "oldAccessKeyId", id)
			continue
		}
		if err := deleteKey(ctx, s.IAM, r.UserName, id); err != nil {
			return r, err
		}
		log.Info("old key deleted", "oldAccessKeyId", id)
		r.DeletedAccessKeyIDs = append(r.DeletedAccessKeyIDs, id)
	}
	// A retry after a lost answer finds deactivated keys already gone: they count as deleted.
	for _, id := range r.DeactivatedAccessKeyIDs {
		if !contains(r.DeletedAccessKeyIDs, id) && !containsKey(retiring, id) {
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

// retirable are the user's existing keys among previousAccessKeyIds, except the new key and
// the key the parameter holds.
func (s *Steps) retirable(ctx context.Context, r Rotation) ([]iamtypes.AccessKeyMetadata, error) {
	st, err := readParameterState(ctx, s.SSM, r.ParameterName, false)
	if err != nil {
		return nil, err
	}
	keys, err := listKeys(ctx, s.IAM, r.UserName)
	if err != nil {
		return nil, err
	}
	var out []iamtypes.AccessKeyMetadata
	for _, k := range keys {
		id := aws.ToString(k.AccessKeyId)
		if contains(r.PreviousAccessKeyIDs, id) && id != r.NewAccessKeyID && id != st.heldKey {
			out = append(out, k)
		}
	}
	return out, nil
}

func containsKey(keys []iamtypes.AccessKeyMetadata, id string) bool { return findKey(keys, id) != nil }
