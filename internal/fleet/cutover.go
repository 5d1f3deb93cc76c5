package fleet

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

// A fleet child holds its Map slot only until its user's new key is verified (the cut-over),
// not through the grace and inactive waits that follow (25 h by default): it starts the
// rotation without waiting for its end (states:startExecution) and asks the cutover action,
// every few seconds, whether the rotation has got past VerifyKey. The rotation goes on
// retiring the old keys in its own execution. Why this design and not a task token or a
// separate retirement execution: statemachine/README.md, "A slot until the cut-over".

// CutOverStates are the states of statemachine/rotate.asl.json that a rotation enters only
// after VerifyKey succeeded: once it has entered one, the new key is stored and verified.
// TestCutOverStatesAreThoseAfterVerifyKey holds this list to the definition.
var CutOverStates = []string{
	"GraceWait", "DeactivateOldKeys", "StillInUse", "ExtendGrace", "InactiveWait", "DeleteOldKeys", "Rotated",
	"ReadRetireCause", "ParseRetireCause", "QuoteRetireCause", "DescribeRetireFailure", "RetireFailed",
}

// The cutover action's schedule: a check a second for the first minute (a cut-over takes
// seconds, plus IAM's propagation of the new key), then one every 10 s; after
// MaxCutOverChecks (about half an hour) the child stops waiting and fails CutOverNotSeen,
// while the rotation goes on by itself. The bound also caps the child's history
// (aslrules.KeyrotorLoops).
const (
	MaxCutOverChecks   = 240
	cutOverFastChecks  = 60
	cutOverFastSeconds = 1
	cutOverSlowSeconds = 10
	// cutOverHistoryPage is how many of the newest history events one check reads: a
	// rotation enters a state at least every few events, so the newest page always shows
	// where it is (a Task's every failed attempt adds 3 events; its retriers allow ≤ 10).
	cutOverHistoryPage = 100
)

// Cut-over statuses.
const (
	CutOverRunning = "running" // not verified yet: check again after WaitSeconds
	CutOverRotated = "rotated" // the new key is verified (retirement may go on)
	CutOverFailed  = "failed"  // the rotation ended without rotating, or the fleet gave up
)

// CutOver is what one check tells the fleet child.
type CutOver struct {
	Rotation string `json:"rotation"` // the rotation's execution ARN
	Checks   int    `json:"checks"`
	Status   string `json:"status"`
	// Retiring: the rotation was still running (retiring the old keys) at the cut-over.
	Retiring    bool   `json:"retiring"`
	WaitSeconds int    `json:"waitSeconds,omitempty"`
	Error       string `json:"error,omitempty"`
	Cause       string `json:"cause,omitempty"`
}

// RotationWatcher is what the cutover action uses of the Step Functions client.
type RotationWatcher interface {
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, opts ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	GetExecutionHistory(ctx context.Context, in *sfn.GetExecutionHistoryInput, opts ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error)
}

// CheckCutOver answers whether the rotation req.Rotation has verified its new key.
func (l *Lister) CheckCutOver(ctx context.Context, req ListRequest) (CutOver, error) {
	c := CutOver{Rotation: req.Rotation, Checks: req.Checks + 1}
	if !strings.Contains(req.Rotation, ":execution:") {
		return c, rotation.NewError(rotation.InvalidInput, nil, "cutover needs the rotation's execution ARN (rotation), not %q", req.Rotation)
	}
	if l.Executions == nil {
		return c, rotation.NewError(rotation.InvalidInput, nil, "this listing has no Step Functions client to follow rotations with")
	}
	x, err := l.Executions.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(req.Rotation)})
	if err != nil {
		return c, rotation.Classify(err, "describe rotation "+req.Rotation)
	}
	switch x.Status {
	case sfntypes.ExecutionStatusSucceeded:
		c.Status = CutOverRotated
		return c, nil
	case sfntypes.ExecutionStatusRunning:
	default:
		c.Status, c.Error, c.Cause = CutOverFailed, aws.ToString(x.Error), aws.ToString(x.Cause)
		if c.Error == "" {
			c.Error = string(x.Status)
		}
		if c.Cause == "" {
			c.Cause = fmt.Sprintf("The rotation execution %s ended %s without an error name.", req.Rotation, x.Status)
		}
		if x.Status == sfntypes.ExecutionStatusAborted {
			c.Cause += " It was stopped: the user's next rotation finishes or undoes what it left (statemachine/README.md)."
		}
		return c, nil
	}
	h, err := l.Executions.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(req.Rotation),
		ReverseOrder: true, MaxResults: cutOverHistoryPage, IncludeExecutionData: aws.Bool(false)})
	if err != nil {
		return c, rotation.Classify(err, "read the history of rotation "+req.Rotation)
	}
	for _, e := range h.Events {
		if d := e.StateEnteredEventDetails; d != nil && slices.Contains(CutOverStates, aws.ToString(d.Name)) {
			c.Status, c.Retiring = CutOverRotated, true
			return c, nil
		}
	}
	if c.Checks >= MaxCutOverChecks {
		waited := time.Duration(cutOverFastChecks*cutOverFastSeconds+(MaxCutOverChecks-cutOverFastChecks)*cutOverSlowSeconds) * time.Second
		c.Status, c.Error = CutOverFailed, rotation.CutOverNotSeen
		c.Cause = fmt.Sprintf("The rotation execution %s has not verified the new key after %d checks (about %s); the fleet stopped waiting for it, and it goes on by itself: see its history (keyrotor history, or the console).", req.Rotation, c.Checks, waited)
		return c, nil
	}
	c.Status, c.WaitSeconds = CutOverRunning, cutOverSlowSeconds
	if c.Checks < cutOverFastChecks {
		c.WaitSeconds = cutOverFastSeconds
	}
	return c, nil
}
