package ssmcreds

import (
	"context"
	"errors"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Cache is a credentials cache that can drop what it holds; *aws.CredentialsCache (what New
// returns) is one.
type Cache interface {
	aws.CredentialsProvider
	Invalidate()
}

// authFailureCodes are the error codes AWS services answer when the signing key is unknown,
// deleted, inactive or does not match its secret — what a rotated-away key gets.
var authFailureCodes = map[string]bool{
	"InvalidClientTokenId":        true, // query/XML services (STS, IAM, SQS…)
	"InvalidAccessKeyId":          true, // S3: key unknown or deleted
	"SignatureDoesNotMatch":       true, // secret does not belong to the key
	"ExpiredToken":                true,
	"UnrecognizedClientException": true, // JSON services (KMS, DynamoDB, Lambda…)
	"InvalidSignatureException":   true, // JSON services: secret does not match
}

// IsAuthFailure reports whether err says the request's key or signature was refused.
func IsAuthFailure(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && authFailureCodes[api.ErrorCode()]
}

// InvalidateOnAuthFailure returns an API option for one service client (give it to that
// client's APIOptions, e.g. s3.WithAPIOptions) that makes the client follow a rotation at
// once: when a request attempt is refused with an authentication failure (IsAuthFailure), it
// invalidates creds, and the SDK's retryer retries the request — signed with the key read
// afresh from the parameter. Each operation retries for this reason at most once, so a key
// that is really wrong fails fast instead of re-reading the parameter on every attempt.
// When several requests in flight are refused the same key, only a refusal of the key the
// cache still holds invalidates it, so the key read afresh is not thrown away again.
//
// It sits inside the SDK's retry loop ("Retry" finalize middleware), so the retry uses the
// client's own retryer, backoff and retry quota; with aws.NopRetryer the cache is still
// invalidated and the next operation uses the new key.
//
// Add it only to clients signed with creds; a client signed with other credentials (such as
// the SSM client that reads the parameter) must not invalidate them.
func InvalidateOnAuthFailure(creds Cache) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		// The stack is built per operation call, so the middleware's state is per operation.
		m := &authFailureMiddleware{creds: creds}
		if _, ok := stack.Finalize.Get("Retry"); ok {
			return stack.Finalize.Insert(m, "Retry", middleware.After)
		}
		return stack.Finalize.Add(m, middleware.Before)
	}
}

type authFailureMiddleware struct {
	creds   Cache
	retried bool
}

func (*authFailureMiddleware) ID() string { return "ssmcreds.InvalidateOnAuthFailure" }

func (m *authFailureMiddleware) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	middleware.FinalizeOutput, middleware.Metadata, error,
) {
	out, md, err := next.HandleFinalize(ctx, in)
	if err == nil || !IsAuthFailure(err) {
		return out, md, err
	}
	if m.holdsRefusedKey(ctx, in.Request) {
		m.creds.Invalidate()
	}
	if m.retried {
		return out, md, err
	}
	m.retried = true
	return out, md, &authFailureError{err: err}
}

var credentialKeyID = regexp.MustCompile(`Credential=([^/,\s]+)/`)

// holdsRefusedKey reports whether the cache still holds the key the refused attempt was
// signed with (read from its Authorization header, which the signer set on this request).
// When unsure, it says yes: an extra parameter read is better than keeping a refused key.
func (m *authFailureMiddleware) holdsRefusedKey(ctx context.Context, request any) bool {
	req, ok := request.(*smithyhttp.Request)
	if !ok {
		return true
	}
	match := credentialKeyID.FindStringSubmatch(req.Header.Get("Authorization"))
	if match == nil {
		return true
	}
	cached, err := m.creds.Retrieve(ctx)
	return err != nil || cached.AccessKeyID == match[1]
}

// authFailureError marks a refused attempt retryable (the SDK's retry.RetryableError check)
// while errors.As still finds the service's error underneath.
type authFailureError struct{ err error }

func (e *authFailureError) Error() string        { return e.err.Error() }
func (e *authFailureError) Unwrap() error        { return e.err }
func (e *authFailureError) RetryableError() bool { return true }
