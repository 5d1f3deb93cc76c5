package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// Each rotation's outcome is published as an EventBridge event on the engine account's default
// bus, so that a key's owners can be told (docs/steps.md, "Rotation events"): the managed-key
// module routes a user's events to an SNS topic or e-mail addresses.
const (
	// EventSource is the events' source; AWS reserves the "aws." prefix for its services
	// (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsRequestEntry.html).
	EventSource = "keyrotor"
	// EventDetailType is the events' detail-type.
	EventDetailType = "keyrotor rotation"
	// EventBus is the bus the events go to.
	EventBus = "default"
)

// The outcomes an event reports.
const (
	OutcomeRotated    = "rotated"     // the new key is verified in the parameter and the old keys retired
	OutcomeRolledBack = "rolled back" // the rotation failed after it took the lock; its new key (if any) is gone
	OutcomeRefused    = "refused"     // the rotation was refused before it changed anything
)

// EventDetail is an event's detail. It names keys by id only; no secret is ever part of it.
type EventDetail struct {
	Outcome       string `json:"outcome"`
	Account       string `json:"account"`
	UserName      string `json:"userName"`
	ParameterName string `json:"parameterName,omitempty"`
	// NewAccessKeyID is the key the rotation created (rotated: the one now in the parameter).
	NewAccessKeyID string `json:"newAccessKeyId,omitempty"`
	// RetiredAccessKeyIDs are the old keys deactivated; DeletedAccessKeyIDs those deleted.
	RetiredAccessKeyIDs []string `json:"retiredAccessKeyIds,omitempty"`
	DeletedAccessKeyIDs []string `json:"deletedAccessKeyIds,omitempty"`
	ExecutionARN        string   `json:"executionArn"`
	// Error and Cause say why a rotation was refused or rolled back (the Fail state's words).
	Error string `json:"error,omitempty"`
	Cause string `json:"cause,omitempty"`
}

// EventPublisher is what publishing needs of the EventBridge client.
type EventPublisher interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// outcomeOf is the outcome a step's result ends the rotation with, if it ends it: begin
// refusing; delete completing; release or rollback (the failure paths' last step) done.
func outcomeOf(req Request, r Rotation, err error) (EventDetail, bool) {
	d := EventDetail{Account: r.AccountID, UserName: r.UserName, ParameterName: r.ParameterName,
		NewAccessKeyID: r.NewAccessKeyID, ExecutionARN: req.ExecutionID}
	if d.UserName == "" {
		d.UserName = req.Rotation.UserName
	}
	switch {
	case req.Action == "begin" && slices.Contains(rejectedAtBegin, ErrorName(err)):
		d.Outcome, d.Error, d.Cause = OutcomeRefused, ErrorName(err), err.Error()
	case req.Action == "delete" && err == nil:
		d.Outcome, d.RetiredAccessKeyIDs, d.DeletedAccessKeyIDs = OutcomeRotated, r.DeactivatedAccessKeyIDs, r.DeletedAccessKeyIDs
	case (req.Action == "release" || req.Action == "rollback") && err == nil && r.Failure != nil:
		d.Outcome, d.Error, d.Cause = OutcomeRolledBack, r.Failure.Error, r.Failure.Cause
		// Nothing was created or kept: the rotation was refused (two active keys, a conflict).
		if req.Action == "release" && slices.Contains(refusedAtCreate, r.Failure.Error) {
			d.Outcome = OutcomeRefused
		}
	default:
		return d, false
	}
	if d.Account == "" {
		if a, perr := arn.Parse(req.ExecutionID); perr == nil {
			d.Account = a.AccountID
		}
	}
	return d, true
}

// rejectedAtBegin are the errors statemachine/rotate.asl.json's Begin catches straight into
// RotationRejected; Begin's other refusals reach Release, which announces them.
var rejectedAtBegin = []string{InvalidInput, UserNotFound, UserNotManaged, RotationInProgress, AccountNotAllowed, AssumeRoleDenied}

// refusedAtCreate are the errors with which Begin or CreateKey refuse a rotation after the
// lock was taken but before any key was made; Release ends them.
var refusedAtCreate = []string{TooManyActiveKeys, ParameterConflict, ParameterMismatch, FormatMismatch, UserNotManaged, UserNotFound}

// announce publishes the outcome a step ends the rotation with. A failure to publish is logged,
// never returned: the rotation's outcome stands, and its history records it anyway.
func (s *Steps) announce(ctx context.Context, req Request, r Rotation, err error) {
	d, ends := outcomeOf(req, r, err)
	if !ends || s.Events == nil {
		return
	}
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b, merr := json.Marshal(d)
	if merr != nil {
		log.Error("encode the rotation event", "error", merr)
		return
	}
	out, perr := s.Events.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		Source: aws.String(EventSource), DetailType: aws.String(EventDetailType), Detail: aws.String(string(b)),
		EventBusName: aws.String(EventBus), Resources: []string{req.ExecutionID},
	}}})
	if perr == nil && out.FailedEntryCount > 0 {
		perr = errors.New(aws.ToString(out.Entries[0].ErrorCode) + ": " + aws.ToString(out.Entries[0].ErrorMessage))
	}
	if perr != nil {
		log.Warn("rotation event not published", append(req.LogAttrs(), "outcome", d.Outcome, "error", Classify(perr, "publish the rotation event"))...)
		return
	}
	log.Info("rotation event published", append(req.LogAttrs(), "outcome", d.Outcome)...)
}
