package rotation

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
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
	// under the same name: re-checked before a key is made or deleted, unless Begin read them
	// moments ago (beginReadsStand).
	fresh := l.beginReadsStand(s.now())
	if !fresh {
		if err := s.checkManaged(ctx, user); err != nil {
			return r, err
		}
		if err := s.sameUser(ctx, l); err != nil {
			return r, err
		}
	}
	st, err := readParameterState(ctx, s.SSM, l.ParameterName, false)
	if err != nil {
		return r, err
	}
	if st.foreign() {
		return r, parameterConflict(l.ParameterName)
	}
	var keys []iamtypes.AccessKeyMetadata
	if fresh && len(l.ExistingAccessKeyIDs) < maxKeysPerUser {
		// Making room deletes a key: only a fresh list may show which one is inactive.
		keys = l.beginKeys()
	} else if keys, err = listKeys(ctx, s.IAM, user); err != nil {
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
			return r, Classify(err, "record the intent to create a key in "+lockName(l.ParameterName))
		}
	}
	out, err := s.IAM.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)},
		func(o *iam.Options) { o.Retryer = createRetryer() })
	var limit *iamtypes.LimitExceededException
	if errors.As(err, &limit) {
		return r, NewError(TooManyActiveKeys, err, "user %s reached the 2-key limit while keyrotor was making room; run the rotation again", user)
	}
	if err != nil {
		return r, Classify(err, "create an access key for "+user)
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

// createThrottledAttempts is how often CreateKey sends CreateAccessKey while IAM answers
// throttling. Under a fleet that keeps IAM's rate spent, the state machine's retries of the
// whole step alone lost about one CreateAccessKey in a hundred (bench/BENCHMARKS.md §7).
// Each wait is at most createThrottledBackoff (full jitter, doubling from 1 s): at most 17 s
// in all, well within the function's 60 s timeout (infra/modules/engine).
const (
	createThrottledAttempts = 6
	createThrottledBackoff  = 5 * time.Second
)

// createRetryer retries CreateAccessKey only after IAM answered throttling: that answer says
// the request "was denied due to request throttling" (ThrottlingException, HTTP 400, in the
// errors common to every AWS API, https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html),
// so no key was made and sending it again cannot make a second one. Any other failure, a lost
// answer above all, is not retried here: the state machine retries the step, which deletes a
// key made after the recorded intent (strayKeys). No retry quota: a warm Lambda's quota, spent
// by earlier throttled calls, would end the retries early.
func createRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts, o.MaxBackoff = createThrottledAttempts, createThrottledBackoff
		o.RateLimiter = ratelimit.None
		throttled := retry.ThrottleErrorCode{Codes: retry.DefaultThrottleErrorCodes}
		o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(throttled.IsErrorThrottle)}
	})
}

// beginReadsWindow is how long after Begin took the lock its reads of the user — the opt-in
// tag, the IAM user id, the keys — stand for CreateKey. IAM itself is eventually consistent
// ("changes ... are not always immediately visible", https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency),
// so reading them again seconds later promises nothing more; each read skipped is IAM rate
// the fleet keeps (3 of the 13–15 calls a rotation makes).
const beginReadsWindow = 10 * time.Second

// beginReadsStand says whether Begin's reads answer CreateKey's questions: this is the step's
// first attempt (no intent recorded, so no key of ours can exist; no key adopted or abandoned
// to clean up) and the lock was taken within beginReadsWindow. Its keys stand only while the
// user had room for a key (Create lists them again to make room). A key added meanwhile by
// someone else makes CreateAccessKey fail LimitExceeded (TooManyActiveKeys) or is not among
// the keys retired.
func (l *lock) beginReadsStand(now time.Time) bool {
	return l.CreateIntentAt == nil && l.NewAccessKeyID == "" && l.AdoptedFrom == "" &&
		len(l.AbandonedAccessKeyIDs) == 0 && l.ExistingAccessKeyIDs != nil &&
		!l.AcquiredAt.IsZero() && now.Sub(l.AcquiredAt) <= beginReadsWindow
}

// beginKeys are the keys Begin recorded, as a listing gives them (in creation order).
func (l *lock) beginKeys() []iamtypes.AccessKeyMetadata {
	keys := make([]iamtypes.AccessKeyMetadata, 0, len(l.ExistingAccessKeyIDs))
	for _, id := range l.ExistingAccessKeyIDs {
		keys = append(keys, iamtypes.AccessKeyMetadata{AccessKeyId: aws.String(id), UserName: aws.String(l.UserName)})
	}
	return keys
}

// sameUser fails NotAuthorized unless the user named in the record still has the IAM user id
// Begin recorded: a user deleted and re-created under the same name is someone else.
func (s *Steps) sameUser(ctx context.Context, l *lock) error {
	user, err := s.IAM.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(l.UserName)})
	if err != nil {
		return Classify(err, "read IAM user "+l.UserName)
	}
	if id := aws.ToString(user.User.UserId); id != l.UserID {
		return NewError(NotAuthorized, nil,
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
			return NewError(InvalidInput, nil, "%s needs %s in the rotation document; pass the document of the previous step unchanged", step, nameValues[i])
		}
	}
	return nil
}
