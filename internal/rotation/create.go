package rotation

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

type keyCreator interface {
	CreateAccessKey(ctx context.Context, in *iam.CreateAccessKeyInput, opts ...func(*iam.Options)) (*iam.CreateAccessKeyOutput, error)
}

// maxKeysPerUser is IAM's quota of access keys per user.
const maxKeysPerUser = 2

// Create makes room for a key (deleting an inactive one the parameter does not hold), creates
// the key, seals its secret and records both in the lock. Retried, it returns the key it made.
func (s *Steps) Create(ctx context.Context, req Request) (Rotation, error) {
	r := req.Rotation
	if err := requireFields("create", "userName", r.UserName, "parameterName", r.ParameterName); err != nil {
		return r, err
	}
	log := stepLogger(s.Logger, req)
	l, err := s.authorize(ctx, r.ParameterName, req.ExecutionID)
	if err != nil {
		return r, err
	}
	// The opt-in tag may have been removed since Begin: re-checked before a key is made.
	if err := s.checkManaged(ctx, r.UserName); err != nil {
		return r, err
	}
	st, err := readParameterState(ctx, s.SSM, r.ParameterName, false)
	if err != nil {
		return r, err
	}
	if st.foreign() {
		return r, parameterConflict(r.ParameterName)
	}
	keys, err := listKeys(ctx, s.IAM, r.UserName)
	if err != nil {
		return r, err
	}

	if l.NewAccessKeyID != "" && findKey(keys, l.NewAccessKeyID) != nil {
		log.Info("key already created by this execution", "accessKeyId", l.NewAccessKeyID)
		r.NewAccessKeyID, r.SealedSecret = l.NewAccessKeyID, l.SealedSecret
		r.PreviousAccessKeyIDs = otherKeys(keys, l.NewAccessKeyID)
		return r, nil
	}
	// A key this execution made but never recorded has an unrecoverable secret: replace it.
	for _, id := range strayKeys(keys, l, st.heldKey, nil) {
		log.Warn("deleting key created by an interrupted attempt of this execution", "accessKeyId", id)
		if err := deleteKey(ctx, s.IAM, r.UserName, id); err != nil {
			return r, err
		}
		keys = withoutKey(keys, id)
	}
	if keys, err = s.makeRoom(ctx, log, r.UserName, keys, st.heldKey); err != nil {
		return r, err
	}

	// Record the intent before CreateAccessKey: a key this execution makes and fails to record
	// is told from anyone else's by being created after it.
	if l.CreateIntentAt == nil {
		intent := s.now().UTC()
		l.CreateIntentAt = &intent
		if err := writeLock(ctx, s.SSM, r.ParameterName, *l, true); err != nil {
			return r, classify(err, "record the intent to create a key in "+lockName(r.ParameterName))
		}
	}
	// No SDK retry: a retried CreateAccessKey whose first answer was lost makes a second key.
	// The state machine retries the step instead, and the step cleans up what was lost.
	out, err := s.IAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(r.UserName)},
		func(o *iam.Options) { o.Retryer = aws.NopRetryer{} })
	var limit *iamtypes.LimitExceededException
	if errors.As(err, &limit) {
		return r, newError(TooManyActiveKeys, err, "user %s reached the 2-key limit while keyrotor was making room; run the rotation again", r.UserName)
	}
	if err != nil {
		return r, classify(err, "create an access key for "+r.UserName)
	}
	id := aws.ToString(out.AccessKey.AccessKeyId)
	secret := SecretKey{value: aws.ToString(out.AccessKey.SecretAccessKey)}
	log = log.With("accessKeyId", id)
	log.Info("access key created")

	sealed, err := seal(ctx, s.KMS, s.Config.KMSKeyID, secret, sealContext(r.UserName, id, req.ExecutionID))
	if err != nil {
		return r, err
	}
	created := aws.ToTime(out.AccessKey.CreateDate)
	if created.IsZero() {
		created = s.now()
	}
	l.NewAccessKeyID, l.SealedSecret, l.KeyCreatedAt = id, sealed, &created
	if err := writeLock(ctx, s.SSM, r.ParameterName, *l, true); err != nil {
		return r, classify(err, "record the new key in "+lockName(r.ParameterName))
	}
	r.NewAccessKeyID, r.SealedSecret = id, sealed
	r.PreviousAccessKeyIDs = otherKeys(keys, "")
	log.Info("secret sealed", "previousAccessKeyIds", r.PreviousAccessKeyIDs)
	return r, nil
}

// makeRoom keeps the user under the 2-key quota: it deletes the oldest inactive key the
// parameter does not hold, or fails TooManyActiveKeys without changing anything.
func (s *Steps) makeRoom(ctx context.Context, log *slog.Logger, user string, keys []iamtypes.AccessKeyMetadata, held string) ([]iamtypes.AccessKeyMetadata, error) {
	if len(keys) < maxKeysPerUser {
		return keys, nil
	}
	id, err := roomFor(user, keys, held)
	if err != nil {
		return nil, err
	}
	log.Info("deleting inactive key to make room", "accessKeyId", id)
	if err := deleteKey(ctx, s.IAM, user, id); err != nil {
		return nil, err
	}
	return withoutKey(keys, id), nil
}

func otherKeys(keys []iamtypes.AccessKeyMetadata, except string) []string {
	var ids []string
	for _, k := range keys {
		if id := aws.ToString(k.AccessKeyId); id != except {
			ids = append(ids, id)
		}
	}
	return ids
}

func withoutKey(keys []iamtypes.AccessKeyMetadata, id string) []iamtypes.AccessKeyMetadata {
	var out []iamtypes.AccessKeyMetadata
	for _, k := range keys {
		if aws.ToString(k.AccessKeyId) != id {
			out = append(out, k)
		}
	}
	return out
}

// requireFields fails InvalidInput naming the first empty field a step needs.
func requireFields(step string, nameValues ...string) error {
	for i := 0; i+1 < len(nameValues); i += 2 {
		if nameValues[i+1] == "" {
			return newError(InvalidInput, nil, "%s needs %s in the rotation document; pass the document of the previous step unchanged", step, nameValues[i])
		}
	}
	return nil
}
