package rotation

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

type parameterWriter interface {
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, opts ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
}

type parameterDeleter interface {
	DeleteParameter(ctx context.Context, in *ssm.DeleteParameterInput, opts ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error)
}

// storedKey is the json format of the parameter value, as consumers read it.
type storedKey struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
}

// Store unseals the new secret and writes it to the parameter as a SecureString encrypted with
// the engine's KMS key. If the current version already holds the new key, it returns that.
func (s *Steps) Store(ctx context.Context, req Request) (Rotation, error) {
	r := req.Rotation
	if err := requireFields("store", "parameterName", r.ParameterName, "newAccessKeyId", r.NewAccessKeyID, "sealedSecret", r.SealedSecret); err != nil {
		return r, err
	}
	log := stepLogger(s.Logger, req).With("accessKeyId", r.NewAccessKeyID)
	l, err := ownLock(ctx, s.SSM, r.ParameterName, req.ExecutionID)
	if err != nil {
		return r, err
	}
	if l.NewAccessKeyID != r.NewAccessKeyID {
		return r, newError(NotAuthorized, nil, "store asks to write key %s, but the lock of execution %s records %q as its new key; nothing was written",
			r.NewAccessKeyID, req.ExecutionID, l.NewAccessKeyID)
	}
	st, err := readParameterState(ctx, s.SSM, r.ParameterName, false)
	if err != nil {
		return r, err
	}
	if st.foreign() {
		return r, parameterConflict(r.ParameterName)
	}
	if st.heldKey == r.NewAccessKeyID {
		r.ParameterVersion = st.version
		if prev := st.latestVersionNotHolding(r.NewAccessKeyID); prev != nil {
			r.PreviousParameterVersion = prev.Version
		}
		log.Info("parameter already holds the new key", "version", r.ParameterVersion)
		r.SealedSecret = "" // stored: the ciphertext goes no further than this step
		return r, writeOwner(ctx, s.SSM, r.ParameterName, r.UserName, r.UserID, r.Format)
	}

	secret, err := unseal(ctx, s.KMS, s.Config.KMSKeyID, r.SealedSecret, sealContext(r.UserName, r.NewAccessKeyID, req.ExecutionID))
	if err != nil {
		return r, err
	}
	value, err := parameterValue(r, secret)
	if err != nil {
		return r, err
	}
	out, err := s.SSM.PutParameter(ctx, &ssm.PutParameterInput{
		Name:        aws.String(r.ParameterName),
		Value:       aws.String(value),
		Type:        ssmtypes.ParameterTypeSecureString,
		KeyId:       aws.String(s.Config.KMSKeyID),
		Overwrite:   aws.Bool(true),
		Description: aws.String(DescriptionPrefix + r.NewAccessKeyID),
		// Standard, pinned: an Advanced parameter is encrypted with a data key and would need
		// kms:GenerateDataKey (Parameter Store tiers,
		// https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html),
		// and an account whose default tier is Intelligent-Tiering could pick it.
		Tier: ssmtypes.ParameterTierStandard,
	}, func(o *ssm.Options) { o.Retryer = aws.NopRetryer{} }) // a retried step finds this version; an SDK retry would add one
	if err != nil {
		return r, classify(err, "store the new key in parameter "+r.ParameterName)
	}
	r.PreviousParameterVersion, r.ParameterVersion = st.version, out.Version
	log.Info("new key stored", "version", out.Version, "previousVersion", st.version)
	// The ownership record follows the value; a retried Store writes it again.
	if err := writeOwner(ctx, s.SSM, r.ParameterName, r.UserName, r.UserID, r.Format); err != nil {
		return r, err
	}
	// Stored: later states, the execution's output and a fleet's Map Run child histories (whose
	// TaskSucceeded event carries the whole output) need not carry even the ciphertext.
	r.SealedSecret = ""
	return r, nil
}

// Restore is the rollback of Store: if the parameter holds the new key, it puts the previous
// version's value back (or deletes the parameter this rotation created).
func (s *Steps) Restore(ctx context.Context, req Request) (Rotation, error) {
	r := req.Rotation
	if err := requireFields("restore", "parameterName", r.ParameterName); err != nil {
		return r, err
	}
	log := stepLogger(s.Logger, req).With("accessKeyId", r.NewAccessKeyID)
	l, err := s.authorize(ctx, r.ParameterName, req.ExecutionID)
	if err != nil {
		return r, err
	}
	if r.NewAccessKeyID != "" && r.NewAccessKeyID != l.NewAccessKeyID {
		return r, newError(NotAuthorized, nil, "restore names key %s, but the lock of execution %s records %q as its new key; nothing was restored",
			r.NewAccessKeyID, req.ExecutionID, l.NewAccessKeyID)
	}
	st, err := readParameterState(ctx, s.SSM, r.ParameterName, true)
	if err != nil {
		return r, err
	}
	if r.NewAccessKeyID == "" || st.heldKey != r.NewAccessKeyID {
		log.Info("parameter does not hold the new key; nothing to restore", "heldKey", st.heldKey)
		return r, nil
	}
	prev := st.at(r.PreviousParameterVersion)
	if prev == nil || heldKeyOf(*prev) == r.NewAccessKeyID {
		prev = st.latestVersionNotHolding(r.NewAccessKeyID)
	}
	if prev == nil {
		_, err := s.SSM.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(r.ParameterName)})
		var notFound *ssmtypes.ParameterNotFound
		if err != nil && !errors.As(err, &notFound) {
			return r, classify(err, "delete parameter "+r.ParameterName+" created by this rotation")
		}
		log.Info("parameter created by this rotation deleted")
		return r, nil
	}
	in := &ssm.PutParameterInput{
		Name:        aws.String(r.ParameterName),
		Value:       prev.Value,
		Type:        prev.Type,
		Overwrite:   aws.Bool(true),
		Description: prev.Description,
	}
	if prev.Type == ssmtypes.ParameterTypeSecureString {
		in.KeyId = prev.KeyId
	}
	out, err := s.SSM.PutParameter(ctx, in)
	if err != nil {
		return r, classify(err, "restore parameter "+r.ParameterName)
	}
	log.Info("parameter restored", "restoredFrom", prev.Version, "version", out.Version, "heldKey", heldKeyOf(*prev))
	return r, nil
}
