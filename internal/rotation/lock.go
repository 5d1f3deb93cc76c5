package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// lockReader reads a lock (readLock): the trigger's destroy reads one to stop its holder.
type lockReader interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

type lockStore interface {
	lockReader
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, opts ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
	DeleteParameter(ctx context.Context, in *ssm.DeleteParameterInput, opts ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error)
}

type executionDescriber interface {
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, opts ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
}

// lock is the value of <parameterName>.lock: the rotation's record (record.go). Besides the
// holder it records whose rotation it is, the keys the user had when it was taken and what each
// step did, so that a retried CreateKey returns the same key instead of making another, a step
// request is checked against it, and the next rotation can finish or undo a stopped one.
type lock struct {
	ExecutionID string    `json:"executionId"`
	AcquiredAt  time.Time `json:"acquiredAt"`
	// Whose rotation: written by Begin, never changed.
	AccountID     string `json:"accountId,omitempty"`
	UserName      string `json:"userName,omitempty"`
	UserID        string `json:"userId,omitempty"`
	ParameterName string `json:"parameterName,omitempty"`
	Format        string `json:"format,omitempty"`
	SESRegion     string `json:"sesRegion,omitempty"` // format ses-smtp: the SMTP password's region
	MovedFrom     string `json:"movedFrom,omitempty"`
	// ExistingAccessKeyIDs is nil only in a lock whose keys are unknown. It lists every key
	// the user had, abandoned ones included.
	ExistingAccessKeyIDs []string   `json:"existingAccessKeyIds"`
	NewAccessKeyID       string     `json:"newAccessKeyId,omitempty"`
	SealedSecret         string     `json:"sealedSecret,omitempty"`
	KeyCreatedAt         *time.Time `json:"keyCreatedAt,omitempty"`
	// CreateIntentAt is written before CreateAccessKey: only a lock with an intent can have
	// made a key it did not record, and only at or after that time.
	CreateIntentAt *time.Time `json:"createIntentAt,omitempty"`
	// AbandonedAccessKeyIDs are keys the execution of a broken stale lock created (recorded,
	// or made between its intent and its end, or abandoned to it in turn) that this execution
	// cleans up.
	AbandonedAccessKeyIDs []string `json:"abandonedAccessKeyIds,omitempty"`
	// AdoptedFrom is the stopped execution whose stored key this rotation finishes.
	AdoptedFrom string `json:"adoptedFrom,omitempty"`
	// RecordedAccessKeyIDs are the user's keys that a version of the parameter (or of the one
	// a move leaves) held when the lock was taken: the old keys keyrotor recorded, the only
	// ones retiring may delete.
	RecordedAccessKeyIDs []string `json:"recordedAccessKeyIds,omitempty"`
	// What the steps did: the version Store replaced and wrote, when Verify verified, how
	// often Deactivate extended the grace and when it last checked, when it deactivated.
	PreviousParameterVersion int64      `json:"previousParameterVersion,omitempty"`
	ParameterVersion         int64      `json:"parameterVersion,omitempty"`
	VerifiedAt               *time.Time `json:"verifiedAt,omitempty"`
	Extensions               int        `json:"extensions,omitempty"`
	ExtendedAt               *time.Time `json:"extendedAt,omitempty"`
	DeactivatedAt            *time.Time `json:"deactivatedAt,omitempty"`
	// Step is the last action that advanced the record; Returned and Given are digests of the
	// rotation document it returned and was given (record.go).
	Step     string `json:"step,omitempty"`
	Returned string `json:"returned,omitempty"`
	Given    string `json:"given,omitempty"`
}

func lockName(parameterName string) string { return parameterName + LockSuffix }

// readLock returns the lock, or nil if nobody holds it.
func readLock(ctx context.Context, store lockReader, parameterName string) (*lock, error) {
	out, err := store.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(lockName(parameterName))})
	var notFound *ssmtypes.ParameterNotFound
	if errors.As(err, &notFound) {
		return nil, nil
	}
	if err != nil {
		return nil, Classify(err, "read lock "+lockName(parameterName))
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

// acquireLock takes <parameterName>.lock for mine's execution, writing mine, Begin's record.
// A lock held by the same execution is ours already; one whose execution is no longer RUNNING
// (or never existed) is broken, and the new record takes over what it left: a key it stored in
// the parameter (heldKey) is adopted, so that this rotation finishes the stopped one; any other
// key it created is abandoned to this rotation, which deletes it.
func (s *Steps) acquireLock(ctx context.Context, log *slog.Logger, mine lock, keys []iamtypes.AccessKeyMetadata, heldKey string) error {
	parameterName := mine.ParameterName
	mine.AcquiredAt = s.now().UTC().Truncate(time.Second)
	mine.ExistingAccessKeyIDs = append([]string{}, otherKeys(keys, "")...)
	for attempt := 0; ; attempt++ {
		err := writeLock(ctx, s.SSM, parameterName, mine, false)
		if err == nil {
			log.Info("lock acquired", "lock", lockName(parameterName), "adoptedFrom", mine.AdoptedFrom, "abandonedAccessKeyIds", mine.AbandonedAccessKeyIDs)
			return nil
		}
		var exists *ssmtypes.ParameterAlreadyExists
		if !errors.As(err, &exists) {
			return Classify(err, "acquire lock "+lockName(parameterName))
		}
		held, err := readLock(ctx, s.SSM, parameterName)
		if err != nil {
			return err
		}
		if held == nil {
			continue // released between our write and read: try again
		}
		if held.ExecutionID == mine.ExecutionID {
			// Begin retried: the record it wrote stands; only the documents are new.
			if held.Step == "begin" {
				held.Given, held.Returned = mine.Given, mine.Returned
				return writeLock(ctx, s.SSM, parameterName, *held, true)
			}
			return nil
		}
		ex, err := s.describeHolder(ctx, held.ExecutionID)
		if err != nil {
			return err
		}
		if ex.running || attempt > 0 {
			return rotationInProgress(held.ExecutionID, parameterName)
		}
		// Stale: its execution ended without releasing (stopped, timed out, or failed where no
		// Catch ran). Only what it recorded creating is taken over: the key in its lock, one
		// made between its recorded intent and its end (a crash between CreateAccessKey and
		// recording it), and what it had taken over itself. A key made after it ended (by hand,
		// say) is nobody's stray; the time the stale lock was taken is never inherited.
		abandoned := abandonedKeys(held, ex.stoppedAt, keys)
		for _, id := range held.AbandonedAccessKeyIDs {
			if containsKey(keys, id) && !slices.Contains(abandoned, id) {
				abandoned = append(abandoned, id)
			}
		}
		mine.AbandonedAccessKeyIDs, mine.AdoptedFrom = nil, ""
		mine.NewAccessKeyID, mine.KeyCreatedAt, mine.PreviousParameterVersion, mine.ParameterVersion = "", nil, 0, 0
		for _, id := range abandoned {
			if id == heldKey && (held.UserID == "" || held.UserID == mine.UserID) {
				// Stored by the stopped rotation: consumers may read it already. Adopted: this
				// rotation verifies it, then retires the old keys (or, if it fails, restores
				// the version before it and deletes it).
				mine.AdoptedFrom, mine.NewAccessKeyID, mine.KeyCreatedAt = held.ExecutionID, id, held.KeyCreatedAt
				mine.PreviousParameterVersion, mine.ParameterVersion = held.PreviousParameterVersion, held.ParameterVersion
				if mine.KeyCreatedAt == nil {
					if k := findKey(keys, id); k != nil {
						mine.KeyCreatedAt = k.CreateDate
					}
				}
				continue
			}
			mine.AbandonedAccessKeyIDs = append(mine.AbandonedAccessKeyIDs, id)
		}
		// Every key the user has stays listed as existing: an abandoned key is still the
		// user's, and a key this rotation adopts is never retired (retirable skips it).
		mine.ExistingAccessKeyIDs = otherKeys(keys, mine.NewAccessKeyID)
		if mine.ExistingAccessKeyIDs == nil {
			mine.ExistingAccessKeyIDs = []string{}
		}
		// Delete it and race for it once more.
		log.Warn("breaking stale lock", "lock", lockName(parameterName), "holder", held.ExecutionID, "abandonedAccessKeyIds", mine.AbandonedAccessKeyIDs, "adoptedAccessKeyId", mine.NewAccessKeyID)
		if _, err := s.SSM.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(lockName(parameterName))}); err != nil {
			var notFound *ssmtypes.ParameterNotFound
			if !errors.As(err, &notFound) {
				return Classify(err, "break stale lock "+lockName(parameterName))
			}
		}
	}
}

// abandonedKeys are the keys among keys that a stale lock's execution created: the one it
// recorded, or, when it recorded an intent but no key, those it did not have before that
// were created between its intent and its end (IAM's CreateDate has whole seconds).
func abandonedKeys(held *lock, stoppedAt *time.Time, keys []iamtypes.AccessKeyMetadata) []string {
	var ids []string
	for _, k := range keys {
		id := aws.ToString(k.AccessKeyId)
		switch {
		case held.NewAccessKeyID != "":
			if id == held.NewAccessKeyID {
				ids = append(ids, id)
			}
		case held.CreateIntentAt != nil && stoppedAt != nil && held.ExistingAccessKeyIDs != nil:
			created := aws.ToTime(k.CreateDate)
			if !slices.Contains(held.ExistingAccessKeyIDs, id) && !created.Before(held.CreateIntentAt.Truncate(time.Second)) &&
				!created.After(stoppedAt.Truncate(time.Second).Add(time.Second)) {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

type holderState struct {
	running   bool
	stoppedAt *time.Time
}

// describeHolder asks Step Functions whether the lock holder still runs, and when it ended.
func (s *Steps) describeHolder(ctx context.Context, executionID string) (holderState, error) {
	out, err := s.Executions.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(executionID)})
	var gone *sfntypes.ExecutionDoesNotExist
	var invalid *sfntypes.InvalidArn
	if errors.As(err, &gone) || errors.As(err, &invalid) {
		return holderState{}, nil
	}
	if err != nil {
		return holderState{}, Classify(err, "ask Step Functions whether lock holder "+executionID+" still runs")
	}
	return holderState{running: out.Status == sfntypes.ExecutionStatusRunning, stoppedAt: out.StopDate}, nil
}

// describeRunning fails NotAuthorized unless executionID is a RUNNING execution.
func (s *Steps) describeRunning(ctx context.Context, parameterName, executionID string) (holderState, error) {
	if s.Executions == nil {
		return holderState{}, NewError(NotAuthorized, nil, "this function cannot ask Step Functions whether execution %s runs; it changes nothing", executionID)
	}
	ex, err := s.describeHolder(ctx, executionID)
	if err != nil {
		return ex, err
	}
	if !ex.running {
		return ex, NewError(NotAuthorized, nil,
			"execution %s, named by this request to act on %s, is not a RUNNING execution of the rotation state machine; a step acts only for a running execution, so nothing was changed",
			executionID, parameterName)
	}
	return ex, nil
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
		return nil, NewError(RotationInProgress, nil,
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
		return false, Classify(err, "release lock "+lockName(parameterName))
	}
	return true, nil
}
