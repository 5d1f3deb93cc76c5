package rotation

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// The engine's floors (MinGraceSeconds, MinInactiveSeconds) are measured on the engine's
// clock, read from the execution's own history: Step Functions stamps every history event
// itself, so a requester cannot forge the times, and the time between the end of the step
// that started a wait (its TaskStateExited) and the history's newest event is time the
// execution has really spent. On AWS that is AWS's clock; on the local engine it is the clock
// the Waits run on (simulated or not), which the function's own wall clock is not.
// GetExecutionHistory: https://docs.aws.amazon.com/step-functions/latest/apireference/API_GetExecutionHistory.html
// (reverseOrder, maxResults up to 1000, includeExecutionData false leaves out inputs and outputs).

// The Task states of statemachine/rotate.asl.json whose end starts a floor (a test reads the
// definition: each runs the action named here).
const (
	VerifyState     = "VerifyKey"         // action verify: the grace floor runs from its end
	DeactivateState = "DeactivateOldKeys" // action deactivate: an extension's grace and the inactive floor run from its end
)

// historyPageSize is GetExecutionHistory's largest page. Newest first, one page always reaches
// the state a floor runs from: from the current Task back to VerifyKey's end lie at most 4
// DeactivateOldKeys runs (3 extensions) of at most 12 attempts each (1 + the Retries' 5 + 6, 3
// events an attempt) and their Choice and Wait states, under 200 events. The call costs no
// state transition (Step Functions bills transitions); GetExecutionHistory is throttled per
// account and Region by a token bucket (Step Functions quotas, "API action throttling"), and
// a throttled call is Throttled, which every Task retries. It is made only with a floor above 0,
// once per deactivate or delete.
const historyPageSize = 1000

// clockSlack is how much earlier than its Seconds a Wait may appear to end in the history:
// the timestamps are AWS's, in milliseconds, taken by the service that ends the Wait, and no
// AWS page promises that a Wait of N s is stamped at least N s after the state before it.
const clockSlack = time.Second

// executionHistoryReader is what the floors use of the Step Functions client.
type executionHistoryReader interface {
	GetExecutionHistory(ctx context.Context, in *sfn.GetExecutionHistoryInput, opts ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error)
}

// executionReader is the steps' Step Functions client: whether an execution runs (lock.go)
// and its history (the floors).
type executionReader interface {
	executionDescriber
	executionHistoryReader
}

// sinceStateEnded returns how long the execution has run, on the engine's clock, since state
// last ended: the timestamp of the history's newest event minus that of state's newest
// TaskStateExited. found is false when the history shows no end of state.
func (s *Steps) sinceStateEnded(ctx context.Context, executionID, state string) (elapsed time.Duration, found bool, err error) {
	in := &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(executionID), ReverseOrder: true,
		MaxResults: historyPageSize, IncludeExecutionData: aws.Bool(false)}
	var newest *time.Time
	for {
		out, err := s.Executions.GetExecutionHistory(ctx, in)
		if err != nil {
			return 0, false, Classify(err, "read the history of execution "+executionID+" to measure the engine's floor")
		}
		for _, e := range out.Events {
			if newest == nil {
				newest = e.Timestamp
			}
			if d := e.StateExitedEventDetails; e.Type == sfntypes.HistoryEventTypeTaskStateExited && d != nil && aws.ToString(d.Name) == state {
				return aws.ToTime(newest).Sub(aws.ToTime(e.Timestamp)), true, nil
			}
		}
		if out.NextToken == nil {
			return 0, false, nil
		}
		in.NextToken = out.NextToken
	}
}
