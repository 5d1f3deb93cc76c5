package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

type parameterReader interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// Verify reads the parameter exactly as a consumer does and calls sts:GetCallerIdentity with
// the key in it. A refused key is KeyNotYetValid (retryable) within the propagation window
// after its creation, VerificationFailed after it, or when it authenticates as someone else.
func (s *Steps) Verify(ctx context.Context, req Request) (Rotation, error) {
	r := req.Rotation
	// Not asked whether the execution runs (verifykey may not describe executions): verifying
	// changes no key and no parameter, only the record's verifiedAt, which no later step takes
	// from a stopped execution's record.
	l, log, err := s.recordOfNewKey(ctx, req, false, "verify")
	if err != nil {
		return r, err
	}
	id, secret, err := s.readAsConsumer(ctx, l)
	if err != nil {
		return r, err
	}
	r.STSCalls++
	out, err := s.CallerIdentity(ctx, id, secret)
	if hasCode(err, "InvalidClientTokenId", "SignatureDoesNotMatch") {
		if l.KeyCreatedAt != nil && s.now().Before(l.KeyCreatedAt.Add(s.Config.PropagationWindow)) {
			log.Info("new key not yet accepted by STS", "stsCalls", r.STSCalls)
			return r, NewError(KeyNotYetValid, err, "STS does not accept key %s yet (IAM propagation); retry", id)
		}
		return r, NewError(VerificationFailed, err,
			"STS refuses key %s read from %s although it was created more than %s ago: the stored secret is wrong",
			id, l.ParameterName, s.Config.PropagationWindow)
	}
	if err != nil {
		return r, Classify(err, "call sts:GetCallerIdentity with the new key")
	}
	// Identity is the account and the IAM user id: GetCallerIdentity's UserId is the user's
	// unique id for an IAM user (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
	got := aws.ToString(out.Arn)
	if !isUserARN(got, l.UserName) || l.AccountID != "" && aws.ToString(out.Account) != l.AccountID ||
		l.UserID != "" && aws.ToString(out.UserId) != l.UserID {
		return r, NewError(VerificationFailed, nil,
			"key %s read from %s authenticates as %s (user id %s), not as IAM user %s (user id %s)%s", id, l.ParameterName, got,
			aws.ToString(out.UserId), l.UserName, l.UserID, InAccount(l.AccountID))
	}
	now := s.now().UTC()
	l.VerifiedAt = &now
	r.VerifiedAt = now.Format(time.RFC3339Nano) // to the nanosecond: a use just before it is not "after"
	if err := s.advance(ctx, l, req.Action, req.Rotation, r); err != nil {
		return r, err
	}
	log.Info("new key verified", "arn", got, "stsCalls", r.STSCalls)
	return r, nil
}

// readAsConsumer gets the parameter with decryption and parses it by format.
func (s *Steps) readAsConsumer(ctx context.Context, r *lock) (string, SecretKey, error) {
	out, err := s.SSM.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(r.ParameterName), WithDecryption: aws.Bool(true)})
	var notFound *ssmtypes.ParameterNotFound
	if errors.As(err, &notFound) {
		return "", SecretKey{}, NewError(VerificationFailed, err, "parameter %s does not exist; it was deleted after StoreParameter", r.ParameterName)
	}
	if err != nil {
		return "", SecretKey{}, Classify(err, "read parameter "+r.ParameterName+" as a consumer")
	}
	value := aws.ToString(out.Parameter.Value)
	if r.Format == FormatRaw {
		return r.NewAccessKeyID, SecretKey{value: value}, nil
	}
	var k storedKey
	if err := json.Unmarshal([]byte(value), &k); err != nil || k.AccessKeyID == "" || k.SecretAccessKey == "" {
		// The value may be a secret: never include it or the parser's message about it.
		return "", SecretKey{}, NewError(VerificationFailed, nil,
			`parameter %s (version %d) is not JSON {"AccessKeyId","SecretAccessKey"} as format %q requires`,
			r.ParameterName, out.Parameter.Version, r.Format)
	}
	if k.AccessKeyID != r.NewAccessKeyID {
		return "", SecretKey{}, NewError(VerificationFailed, nil,
			"parameter %s holds key %s, not the new key %s: something else wrote it during the rotation",
			r.ParameterName, k.AccessKeyID, r.NewAccessKeyID)
	}
	if r.Format == FormatSESSMTP {
		if err := checkSMTPValue(Rotation{Input: Input{ParameterName: r.ParameterName, SESRegion: r.SESRegion}, NewAccessKeyID: r.NewAccessKeyID}, value, SecretKey{value: k.SecretAccessKey}); err != nil {
			return "", SecretKey{}, err
		}
	}
	return k.AccessKeyID, SecretKey{value: k.SecretAccessKey}, nil
}

// isUserARN reports whether a caller ARN is IAM user name (with any path).
func isUserARN(s, user string) bool {
	a, err := arn.Parse(s)
	if err != nil || a.Service != "iam" || !strings.HasPrefix(a.Resource, "user/") {
		return false
	}
	return a.Resource[strings.LastIndex(a.Resource, "/")+1:] == user
}

// InAccount says " of account A" for a member account, "" for the engine's own.
func InAccount(account string) string {
	if account == "" {
		return ""
	}
	return " of account " + account
}
