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
	log := stepLogger(s.Logger, req)
	l, err := s.recordFor(ctx, req, true)
	if err != nil {
		return r, err
	}
	user := l.UserName
	// The opt-in tag may have been removed since Begin, or the user deleted and re-created
	// under the same name: re-checked before a key is made or deleted.
	if err := s.checkManaged(ctx, user); err != nil {
		return r, err
	}
	if err := s.sameUser(ctx, l); err != nil {
		return r, err
	}
	st, err := readParameterState(ctx, s.SSM, l.ParameterName, false)
	if err != nil {
		return r, err
	}
	if st.foreign() {
		return r, parameterConflict(l.ParameterName)
	}
	keys, err := listKeys(ctx, s.IAM, user)
	if err != nil {
		return r, err
	}

	if l.NewAccessKeyID != "" && findKey(keys, l.NewAccessKeyID) != nil {
		log.Info("key already created by this execution", "accessKeyId", l.NewAccessKeyID, "adoptedFrom", l.AdoptedFrom)
		r.NewAccessKeyID, r.SealedSecret = l.NewAccessKeyID, l.SealedSecret
		r.PreviousAccessKeyIDs = otherKeys(keys, l.NewAccessKeyID)
		return r, s.advance(ctx, l, req.Action, req.Rotation, r)
	}
	// A key this execution made but never recorded has an unrecoverable secret: replace it.
	for _, id := range strayKeys(keys, l, st.heldKey, nil) {
		log.Warn("deleting key created by an interrupted attempt of this execution", "accessKeyId", id)
		if err := deleteKey(ctx, s.IAM, user, id); err != nil {
			return r, err
		}
		keys = withoutKey(keys, id)
	}
	if keys, err = s.makeRoom(ctx, log, user, keys, st.heldKey); err != nil {
		return r, err
	}

	// Record the intent before CreateAccessKey: a key this execution makes and fails to record
	// is told from anyone else's by being created after it.
	if l.CreateIntentAt == nil {
		intent := s.now().UTC()
		l.CreateIntentAt = &intent
		if err := writeLock(ctx, s.SSM, l.ParameterName, *l, true); err != nil {
			return r, classify(err, "record the intent to create a key in "+lockName(l.ParameterName))
		}
	}
	// No SDK retry: a retried CreateAccessKey whose first answer was lost makes a second key.
	// The state machine retries the step instead, and the step cleans up what was lost.
	out, err := s.IAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)},
		func(o *iam.Options) { o.Retryer = aws.NopRetryer{} })
	var limit *iamtypes.LimitExceededException
	if errors.As(err, &limit) {
		return r, newError(TooManyActiveKeys, err, "user %s reached the 2-key limit while keyrotor was making room; run the rotation again", user)
	}
	if err != nil {
		return r, classify(err, "create an access key for "+user)
	}
	id := aws.ToString(out.AccessKey.AccessKeyId)
	secret := SecretKey{value: aws.ToString(out.AccessKey.SecretAccessKey)}
	log = log.With("accessKeyId", id)
	log.Info("access key created")

	sealed, err := seal(ctx, s.KMS, s.Config.KMSKeyID, secret, sealContext(user, id, req.ExecutionID))
	if err != nil {
		return r, err
	}
	created := aws.ToTime(out.AccessKey.CreateDate)
	if created.IsZero() {
		created = s.now()
	}
	l.NewAccessKeyID, l.SealedSecret, l.KeyCreatedAt = id, sealed, &created
	r.NewAccessKeyID, r.SealedSecret = id, sealed
	r.PreviousAccessKeyIDs = otherKeys(keys, "")
	if err := s.advance(ctx, l, req.Action, req.Rotation, r); err != nil {
		return r, err
	}
	log.Info("secret sealed", "previousAccessKeyIds", r.PreviousAccessKeyIDs)
	return r, nil
}

// sameUser fails NotAuthorized unless the user named in the record still has the IAM user id
// Begin recorded: a user deleted and re-created under the same name is someone else.
func (s *Steps) sameUser(ctx context.Context, l *lock) error {
	user, err := s.IAM.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(l.UserName)})
	if err != nil {
		return classify(err, "read IAM user "+l.UserName)
	}
	if id := aws.ToString(user.User.UserId); id != l.UserID {
		return newError(NotAuthorized, nil,
			"IAM user %s now has user id %s, not %s as when this rotation began: it was deleted and re-created, so this rotation stops; nothing was changed",
			l.UserName, id, l.UserID)
	}
	return nil
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
