package motoserver

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// CreateOnce sends one IAM create call of a name only the caller knows, through send, which
// must pass the option it is given to the call. A create whose first attempt made the entity
// and whose answer was lost is sent again by the SDK and answered EntityAlreadyExists: that is
// no conflict, so CreateOnce returns no error and says in resent how the earlier attempts
// ended, for a log line. EntityAlreadyExists at the first attempt is a real conflict and is
// returned, as is any other error.
//
// Seen in make test as creates answered EntityAlreadyExists within 0.02-0.06 s. The lost answer
// is Go's transport closing the connection when the SDK's early close of the request body races
// the request's write ("use of closed network connection", aws/aws-sdk-go-v2 #2737), which the
// SDK's standard retryer resends (aws/retry/retryable_error.go). Config's client keeps that race
// from happening; CreateOnce keeps a resend, whatever lost its answer, from failing a setup.
func CreateOnce(send func(opt func(*iam.Options)) error) (resent string, err error) {
	a := &attempts{RetryerV2: retry.NewStandard()}
	err = send(func(o *iam.Options) { o.Retryer = a })
	var exists *iamtypes.EntityAlreadyExistsException
	if errors.As(err, &exists) && a.count() > 1 {
		return a.why(), nil
	}
	return "", err
}

// attempts is the SDK's standard retryer for one call, counting the attempts it makes and
// keeping how each failed one ended.
type attempts struct {
	aws.RetryerV2
	mu     sync.Mutex
	n      int
	failed []string
}

// GetAttemptToken counts an attempt and records how it ends.
func (a *attempts) GetAttemptToken(ctx context.Context) (func(error) error, error) {
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

func (a *attempts) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

func (a *attempts) why() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.failed, "; then ")
}
