package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

type lockStore interface {
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, opts ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	DeleteParameter(ctx context.Context, in *ssm.DeleteParameterInput, opts ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error)
}

type executionDescriber interface {
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, opts ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
}

// lock is the value of <parameterName>.lock. Besides the holder it records the keys the user
// had when it was taken and what CreateKey made, so that a retried CreateKey returns the same
// key instead of making another, and can tell a key it lost track of from anyone else's.
type lock struct {
	ExecutionID string    `json:"executionId"`
	AcquiredAt  time.Time `json:"acquiredAt"`
	// ExistingAccessKeyIDs is nil only in a lock whose keys are unknown.
	ExistingAccessKeyIDs []string   `json:"existingAccessKeyIds"`
	NewAccessKeyID       string     `json:"newAccessKeyId,omitempty"`
	SealedSecret         string     `json:"sealedSecret,omitempty"`
	KeyCreatedAt         *time.Time `json:"keyCreatedAt,omitempty"`
}

func lockName(parameterName string) string { return parameterName + LockSuffix }

// readLock returns the lock, or nil if nobody holds it.
func readLock(ctx context.Context, store lockStore, parameterName string) (*lock, error) {
	out, err := store.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(lockName(parameterName))})
	var notFound *ssmtypes.ParameterNotFound
	if errors.As(err, &notFound) {
		return nil, nil
	}
	if err != nil {
		return nil, classify(err, "read lock "+lockName(parameterName))
	}
	var l lock
	if err := json.Unmarshal([]byte(aws.ToString(out.Parameter.Value)), &l); err != nil || l.ExecutionID == "" {
		// An unreadable lock is held by nobody we can ask; treat its holder as gone.
		return &lock{ExecutionID: "unreadable lock value"}, nil
	}
	return &l, nil
}

func writeLock(ctx context.Context, store lockStore, parameterName string, l lock, overwrite bool) error {
	value, err := json.Marshal(l)
	if err != nil {
		return err
	}
	_, err = store.PutParameter(ctx, &ssm.PutParameterInput{
		Name:        aws.String(lockName(parameterName)),
		Value:       aws.String(string(value)),
		Type:        ssmtypes.ParameterTypeString,
		Overwrite:   aws.Bool(overwrite),
		Description: aws.String("keyrotor lock: held by a rotation of " + parameterName),
	})
	return err
}

// acquireLock takes <parameterName>.lock for executionID. A lock held by the same execution is
// ours already; one whose execution is no longer RUNNING (or never existed) is broken.
func (s *Steps) acquireLock(ctx context.Context, log *slog.Logger, parameterName, executionID string, existingKeys []string) error {
	mine := lock{ExecutionID: executionID, AcquiredAt: s.now().UTC().Truncate(time.Second), ExistingAccessKeyIDs: append([]string{}, existingKeys...)}
	for attempt := 0; ; attempt++ {
		err := writeLock(ctx, s.SSM, parameterName, mine, false)
		if err == nil {
			log.Info("lock acquired", "lock", lockName(parameterName))
			return nil
		}
		var exists *ssmtypes.ParameterAlreadyExists
		if !errors.As(err, &exists) {
			return classify(err, "acquire lock "+lockName(parameterName))
		}
		held, err := readLock(ctx, s.SSM, parameterName)
		if err != nil {
			return err
		}
		if held == nil {
			continue // released between our write and read: try again
		}
		if held.ExecutionID == executionID {
			return nil
		}
		running, err := s.executionRunning(ctx, held.ExecutionID)
		if err != nil {
			return err
		}
		if running || attempt > 0 {
			return newError(RotationInProgress, nil,
				"another rotation (execution %s) holds %s; wait for it to finish or stop it, then start again",
				held.ExecutionID, lockName(parameterName))
		}
		// Stale: its execution ended without releasing. Take over its record of the keys the
		// user had, so that a key it created counts as a stray of ours and is cleaned up.
		if held.ExistingAccessKeyIDs != nil {
			mine.ExistingAccessKeyIDs, mine.AcquiredAt = held.ExistingAccessKeyIDs, held.AcquiredAt
		}
		// Delete it and race for it once more.
		log.Warn("breaking stale lock", "lock", lockName(parameterName), "holder", held.ExecutionID)
		if _, err := s.SSM.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(lockName(parameterName))}); err != nil {
			var notFound *ssmtypes.ParameterNotFound
			if !errors.As(err, &notFound) {
				return classify(err, "break stale lock "+lockName(parameterName))
			}
		}
	}
}

// executionRunning asks Step Functions whether the lock holder still runs.
func (s *Steps) executionRunning(ctx context.Context, executionID string) (bool, error) {
	out, err := s.Executions.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(executionID)})
	var gone *sfntypes.ExecutionDoesNotExist
	var invalid *sfntypes.InvalidArn
	if errors.As(err, &gone) || errors.As(err, &invalid) {
		return false, nil
	}
	if err != nil {
		return false, classify(err, "ask Step Functions whether lock holder "+executionID+" still runs")
	}
	return out.Status == sfntypes.ExecutionStatusRunning, nil
}

// ownLock returns the lock if executionID holds it, else RotationInProgress.
func ownLock(ctx context.Context, store lockStore, parameterName, executionID string) (*lock, error) {
	l, err := readLock(ctx, store, parameterName)
	if err != nil {
		return nil, err
	}
	if l == nil || l.ExecutionID != executionID {
		holder := "nobody"
		if l != nil {
			holder = "execution " + l.ExecutionID
		}
		return nil, newError(RotationInProgress, nil,
			"%s is held by %s, not by this execution %s; the lock was broken or released, so this rotation stops",
			lockName(parameterName), holder, executionID)
	}
	return l, nil
}

// releaseLock deletes the lock if executionID holds it; reports whether it did.
func releaseLock(ctx context.Context, store lockStore, parameterName, executionID string) (bool, error) {
	l, err := readLock(ctx, store, parameterName)
	if err != nil || l == nil || l.ExecutionID != executionID {
		return false, err
	}
	_, err = store.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(lockName(parameterName))})
	var notFound *ssmtypes.ParameterNotFound
	if err != nil && !errors.As(err, &notFound) {
		return false, classify(err, "release lock "+lockName(parameterName))
	}
	return true, nil
}
