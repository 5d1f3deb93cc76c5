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
// the engine's KMS key. If the current version already holds the new key, it returns that. The
// key, the parameter, the format and the owner are the record's.
func (s *Steps) Store(ctx context.Context, req Request) (Rotation, error) {
	r := req.Rotation
	l, log, err := s.recordOfNewKey(ctx, req, true, "store")
	if err != nil {
		return r, err
	}
	name := l.ParameterName
	st, err := readParameterState(ctx, s.SSM, name, false)
	if err != nil {
		return r, err
	}
	if st.foreign() {
		return r, parameterConflict(name)
	}
	if st.heldKey == l.NewAccessKeyID {
		r.ParameterVersion = st.version
		if prev := st.latestVersionNotHolding(l.NewAccessKeyID); prev != nil {
			r.PreviousParameterVersion = prev.Version
		}
		log.Info("parameter already holds the new key", "version", r.ParameterVersion)
		return s.stored(ctx, l, req, r)
	}
	if l.SealedSecret == "" {
		return r, NewError(NotAuthorized, nil,
			"store for execution %s refused: its record holds no sealed secret for key %s (the key was taken over from a stopped rotation and the parameter no longer holds it); nothing was written",
			req.ExecutionID, l.NewAccessKeyID)
	}
	secret, err := unseal(ctx, s.KMS, s.Config.KMSKeyID, l.SealedSecret, sealContext(l.UserName, l.NewAccessKeyID, req.ExecutionID))
	if err != nil {
		return r, err
	}
	// The value is built from the record, not the request: format, key and region are its.
	value, err := parameterValue(Rotation{Input: Input{Format: l.Format, SESRegion: l.SESRegion}, NewAccessKeyID: l.NewAccessKeyID}, secret)
	if err != nil {
		return r, err
	}
	out, err := s.SSM.PutParameter(ctx, &ssm.PutParameterInput{
		Name:        aws.String(name),
		Value:       aws.String(value),
		Type:        ssmtypes.ParameterTypeSecureString,
		KeyId:       aws.String(s.Config.KMSKeyID),
		Overwrite:   aws.Bool(true),
		Description: aws.String(DescriptionPrefix + l.NewAccessKeyID),
		// Standard, pinned: an Advanced parameter is encrypted with a data key and would need
		// kms:GenerateDataKey (Parameter Store tiers,
		// https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html),
		// and an account whose default tier is Intelligent-Tiering could pick it.
		Tier: ssmtypes.ParameterTierStandard,
	}, func(o *ssm.Options) { o.Retryer = aws.NopRetryer{} }) // a retried step finds this version; an SDK retry would add one
	if err != nil {
		return r, Classify(err, "store the new key in parameter "+name)
	}
	r.PreviousParameterVersion, r.ParameterVersion = st.version, out.Version
	log.Info("new key stored", "version", out.Version, "previousVersion", st.version)
	return s.stored(ctx, l, req, r)
}

// stored ends Store: the ownership record follows the value (a retried Store writes it again),
// and the record notes the versions and drops the ciphertext.
func (s *Steps) stored(ctx context.Context, l *lock, req Request, r Rotation) (Rotation, error) {
	if err := writeOwner(ctx, s.SSM, l.ParameterName, l.UserName, l.UserID, l.Format); err != nil {
		return r, err
	}
	// Stored: later states, the execution's output and a fleet's Map Run child histories (whose
	// TaskSucceeded event carries the whole output) need not carry even the ciphertext.
	r.SealedSecret, l.SealedSecret = "", ""
	l.PreviousParameterVersion, l.ParameterVersion = r.PreviousParameterVersion, r.ParameterVersion
	return r, s.advance(ctx, l, req.Action, req.Rotation, r)
}

// Restore is the rollback of Store: if the parameter holds the new key, it puts the previous
// version's value back (or deletes the parameter this rotation created).
func (s *Steps) Restore(ctx context.Context, req Request) (Rotation, error) {
	r := req.Rotation
	l, err := s.recordFor(ctx, req, true)
	if err != nil {
		return r, err
	}
	log := stepLogger(s.Logger, req).With("accessKeyId", l.NewAccessKeyID)
	st, err := readParameterState(ctx, s.SSM, l.ParameterName, true)
	if err != nil {
		return r, err
	}
	if l.NewAccessKeyID == "" || st.heldKey != l.NewAccessKeyID {
		log.Info("parameter does not hold the new key; nothing to restore", "heldKey", st.heldKey)
		return r, s.advance(ctx, l, req.Action, req.Rotation, r)
	}
	// The version Store replaced, as the record says; never one holding the new key.
	prev := st.at(l.PreviousParameterVersion)
	if prev == nil || heldKeyOf(*prev) == l.NewAccessKeyID {
		prev = st.latestVersionNotHolding(l.NewAccessKeyID)
	}
	if prev == nil {
		_, err := s.SSM.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(l.ParameterName)})
		var notFound *ssmtypes.ParameterNotFound
		if err != nil && !errors.As(err, &notFound) {
			return r, Classify(err, "delete parameter "+l.ParameterName+" created by this rotation")
		}
		log.Info("parameter created by this rotation deleted")
		return r, s.advance(ctx, l, req.Action, req.Rotation, r)
	}
	in := &ssm.PutParameterInput{
		Name:        aws.String(l.ParameterName),
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
		return r, Classify(err, "restore parameter "+l.ParameterName)
	}
	log.Info("parameter restored", "restoredFrom", prev.Version, "version", out.Version, "heldKey", heldKeyOf(*prev))
	return r, s.advance(ctx, l, req.Action, req.Rotation, r)
}
