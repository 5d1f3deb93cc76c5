package motoserver

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// Attempts is the retryer of one create call (the SDK's standard one) that counts the attempts
// the SDK makes and keeps how each failed attempt ended. A create whose first attempt made the
// entity and whose answer was lost is sent again and answered EntityAlreadyExists, which is no
// conflict when the caller alone knows the name. Seen three times in make test, each against a
// moto of its own: a consumer fixture's CreateUser, a local engine's CreateRole, and (without
// SDK retries, so the error itself showed) a 200 to GetCallerIdentity whose body could not be
// read: "use of closed network connection", which the SDK's standard retryer retries
// (aws/retry/retryable_error.go). What closes the connection is not known yet; Why says how
// each attempt ended.
type Attempts struct {
	aws.RetryerV2
	mu     sync.Mutex
	n      int
	failed []string
}

// NewAttempts returns an Attempts for one call: pass it as the call's Retryer.
func NewAttempts() *Attempts { return &Attempts{RetryerV2: retry.NewStandard()} }

// GetAttemptToken counts an attempt and records how it ends.
func (a *Attempts) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	a.mu.Lock()
	a.n++
	a.mu.Unlock()
	release, err := a.RetryerV2.GetAttemptToken(ctx)
	if err != nil {
		return release, err
	}
	return func(attemptErr error) error {
		if attemptErr != nil {
			a.mu.Lock()
			a.failed = append(a.failed, attemptErr.Error())
			a.mu.Unlock()
		}
		return release(attemptErr)
	}, nil
}

// MadeByEarlierAttempt reports whether err is IAM's EntityAlreadyExists for a call the SDK sent
// more than once: its first attempt made the entity. On a first attempt it is a real conflict.
func (a *Attempts) MadeByEarlierAttempt(err error) bool {
	var exists *iamtypes.EntityAlreadyExistsException
	a.mu.Lock()
	defer a.mu.Unlock()
	return errors.As(err, &exists) && a.n > 1
}

// Why says how the attempts ended, for a log line.
func (a *Attempts) Why() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.failed, "; then ")
}
