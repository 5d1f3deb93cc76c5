package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

type userTagLister interface {
	iam.ListUserTagsAPIClient
	GetUser(ctx context.Context, in *iam.GetUserInput, opts ...func(*iam.Options)) (*iam.GetUserOutput, error)
}

// Begin validates and defaults the input, checks the user opted in, that the parameter is
// the user's one keyrotor parameter (or a move was asked for) in its recorded format (or a
// format change was asked for), and takes the lock. Nothing changes if any check fails.
func (s *Steps) Begin(ctx context.Context, req Request) (Rotation, error) {
	return s.begin(ctx, req, func(ctx context.Context, log *slog.Logger, record lock, keys []iamtypes.AccessKeyMetadata, heldKey string) error {
		// Every check passed: the record is taken only for what the execution was started to do.
		if err := s.isExecutionInput(ctx, req); err != nil {
			return err
		}
		return s.acquireLock(ctx, log, record, keys, heldKey)
	})
}

// lockTaker takes the lock (the record) once Begin's checks passed: Begin's acquireLock for
// its execution, or a dry run's look (plan.go).
type lockTaker func(ctx context.Context, log *slog.Logger, record lock, keys []iamtypes.AccessKeyMetadata, heldKey string) error

func (s *Steps) begin(ctx context.Context, req Request, take lockTaker) (Rotation, error) {
	if err := onlyInputFields(req.Rotation); err != nil {
		return req.Rotation, err
	}
	givenParameter, givenFormat := req.Rotation.ParameterName != "", req.Rotation.Format != ""
	r, err := s.Config.withDefaults(req.Rotation)
	if err != nil {
		return req.Rotation, err
	}
	tags, err := s.managedTags(ctx, r.UserName)
	if err != nil {
		return req.Rotation, err
	}
	user, err := s.IAM.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(r.UserName)})
	if err != nil {
		return req.Rotation, Classify(err, "read IAM user "+r.UserName)
	}
	// IAM user names "are not distinguished by case" (CreateUser's UserName,
	// https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateUser.html): a case variant
	// reaches the same user under another default parameter name.
	if name := aws.ToString(user.User.UserName); name != r.UserName {
		return req.Rotation, NewError(InvalidInput, nil,
			"IAM user names are case-insensitive and %q is IAM user %q; name it as IAM spells it", r.UserName, name)
	}
	if req.Rotation.Fleet != nil {
		if err := checkFleetItem(req.Rotation, user.User, tags); err != nil {
			return req.Rotation, err
		}
	}
	r.UserID = aws.ToString(user.User.UserId)
	keys, err := listKeys(ctx, s.IAM, r.UserName)
	if err != nil {
		return req.Rotation, err
	}
	keyIDs := otherKeys(keys, "")
	// The user's keyrotor parameter: the default or tagged name (candidateParameters) whose
	// ownership record names the user, or, written before the record existed, holds one of its
	// keys. A user has one.
	var current []string
	for _, name := range candidateParameters(s.Config.ParameterPrefix, r.UserName, tags) {
		o, err := ReadOwner(ctx, s.SSM, name)
		if err != nil {
			return req.Rotation, err
		}
		if o.Exists && o.OwnedBy(r.UserName, r.UserID, keyIDs) && slices.Contains(keyIDs, o.HeldKey) {
			current = append(current, name)
		}
	}
	if len(current) > 1 {
		return req.Rotation, NewError(ParameterConflict, nil,
			"IAM user %s has keys in %d keyrotor parameters (%s); a user has one — delete all but the one its consumers read, then rotate again",
			r.UserName, len(current), strings.Join(current, ", "))
	}
	tagParameter, tagFormat := tags[ParameterTagKey], tags[FormatTagKey]
	if !givenParameter {
		switch {
		case len(current) == 1:
			r.ParameterName = current[0]
		case tagParameter != "":
			r.ParameterName = tagParameter
		}
	}
	if r.ParameterName == "" {
		return req.Rotation, NewError(InvalidInput, nil,
			"IAM user %s's name has characters (+ = , @) that parameter names refuse, so it has no default parameter; tag the user %s=<name under %s> (the managed-key module's parameter_name) or pass parameterName",
			r.UserName, ParameterTagKey, s.Config.ParameterPrefix)
	}
	if tagParameter != "" && r.ParameterName != tagParameter {
		return req.Rotation, NewError(ParameterMismatch, nil,
			"IAM user %s is tagged %s=%s but this rotation names parameter %s; rotate into %s, or change the user's tag (the managed-key module's parameter_name) first",
			r.UserName, ParameterTagKey, tagParameter, r.ParameterName, tagParameter)
	}
	// A first rotation lands only where the user's consumers are told to look: the default
	// name or the user's keyrotor:parameter tag (checked above). Any other unused name under
	// the prefix may have readers the user never chose.
	if len(current) == 0 && tagParameter == "" && r.ParameterName != s.Config.ParameterPrefix+r.UserName {
		return req.Rotation, NewError(ParameterMismatch, nil,
			"IAM user %s has no keyrotor parameter yet; its first rotation goes to %s%s, or to the name its %s tag gives (the managed-key module's parameter_name), not to %s",
			r.UserName, s.Config.ParameterPrefix, r.UserName, ParameterTagKey, r.ParameterName)
	}
	if len(current) == 1 && r.ParameterName != current[0] {
		if !r.Move {
			return req.Rotation, NewError(ParameterMismatch, nil,
				"the key of IAM user %s is in parameter %s, not %s; rotating into %s would retire the key %s holds and break its consumers. "+
					`Omit parameterName to rotate %s, or pass "move": true to move the key to %s (the old parameter is deleted once the new key is verified)`,
				r.UserName, current[0], r.ParameterName, r.ParameterName, current[0], current[0], r.ParameterName)
		}
		// A move hands the key to whoever reads the new parameter: it also needs the consent
		// of whoever may tag the user (the managed-key module writes the tag).
		if tagParameter == "" {
			return req.Rotation, NewError(ParameterMismatch, nil,
				"a move takes the key of IAM user %s from %s to %s only when the user's %s tag names %s; tag the user (the managed-key module's parameter_name does) and start again",
				r.UserName, current[0], r.ParameterName, ParameterTagKey, r.ParameterName)
		}
		r.MovedFrom = current[0]
	}
	owner, err := ReadOwner(ctx, s.SSM, r.ParameterName)
	if err != nil {
		return req.Rotation, err
	}
	if owner.Exists && owner.HeldKey == "" {
		return req.Rotation, parameterConflict(r.ParameterName)
	}
	// A parameter holding a key that is not this user's belongs to someone else (or its key
	// was deleted by hand): overwriting it would hand this user's key to another's consumers.
	if owner.Exists && (owner.User != "" && !owner.OwnedBy(r.UserName, r.UserID, keyIDs) || findKey(keys, owner.HeldKey) == nil) {
		return req.Rotation, NewError(ParameterConflict, nil,
			"parameter %s holds key %s, which is not an access key of IAM user %s (it is another user's, or was deleted); "+
				"use %s's own parameter, or delete %s if its key was deleted by hand", r.ParameterName, owner.HeldKey, r.UserName, r.UserName, r.ParameterName)
	}
	// The parameter's recorded format; a parameter written before the record existed is taken
	// to be json, keyrotor's default (its value cannot be read without the secret), unless
	// the user's keyrotor:format tag says otherwise.
	recorded, existing := owner.Format, owner.Exists
	if r.MovedFrom != "" {
		old, err := ReadOwner(ctx, s.SSM, r.MovedFrom)
		if err != nil {
			return req.Rotation, err
		}
		recorded, existing = old.Format, true
	}
	if recorded == "" && existing {
		recorded = tagFormat
		if recorded == "" {
			recorded = FormatJSON
		}
	}
	if !givenFormat {
		switch {
		case recorded != "":
			r.Format = recorded
		case tagFormat != "":
			r.Format = tagFormat
		}
	}
	if tagFormat != "" && r.Format != tagFormat {
		return req.Rotation, NewError(FormatMismatch, nil,
			"IAM user %s is tagged %s=%s but this rotation asks for format %s; omit format, or change the user's tag (the managed-key module's format) first",
			r.UserName, FormatTagKey, tagFormat, r.Format)
	}
	if recorded != "" && r.Format != recorded && !r.ChangeFormat {
		return req.Rotation, NewError(FormatMismatch, nil,
			`parameter %s is recorded as format %s, not %s; its consumers parse %s. Omit format, or pass "changeFormat": true once the consumers read %s`,
			r.ParameterName, recorded, r.Format, recorded, r.Format)
	}
	if err := resolveSESRegion(&r, tags); err != nil {
		return req.Rotation, err
	}
	// The old keys keyrotor recorded: those a version of the parameter (or of the one a move
	// leaves) held. Retiring deletes only these; any other old key is only deactivated.
	var recordedKeys []string
	for _, name := range []string{r.ParameterName, r.MovedFrom} {
		if name == "" {
			continue
		}
		st, err := readParameterState(ctx, s.SSM, name, false)
		if err != nil {
			return req.Rotation, err
		}
		for _, v := range st.versions {
			if id := heldKeyOf(v); slices.Contains(keyIDs, id) && !slices.Contains(recordedKeys, id) {
				recordedKeys = append(recordedKeys, id)
			}
		}
	}
	r.LockID = req.ExecutionID
	record := lock{ExecutionID: req.ExecutionID, AccountID: r.AccountID, UserName: r.UserName, UserID: r.UserID,
		ParameterName: r.ParameterName, Format: r.Format, SESRegion: r.SESRegion, MovedFrom: r.MovedFrom, RecordedAccessKeyIDs: recordedKeys,
		Step: "begin", Given: digest(req.Rotation), Returned: digest(r)}
	if err := take(ctx, stepLogger(s.Logger, req), record, keys, owner.HeldKey); err != nil {
		return req.Rotation, err
	}
	if r.MovedFrom != "" || r.ChangeFormat {
		stepLogger(s.Logger, req).Info("rotation asked for explicitly", "movedFrom", r.MovedFrom, "parameter", r.ParameterName, "format", r.Format, "changeFormat", r.ChangeFormat)
	}
	return r, nil
}

func (s *Steps) checkManaged(ctx context.Context, user string) error {
	_, err := s.managedTags(ctx, user)
	return err
}

// managedTags returns the user's tags, or UserNotFound / UserNotManaged.
func (s *Steps) managedTags(ctx context.Context, user string) (map[string]string, error) {
	return readManagedTags(ctx, s.IAM, user)
}

// readManagedTags returns the user's tags, or UserNotFound / UserNotManaged: the opt-in check
// of the steps and of the trigger's destroy.
func readManagedTags(ctx context.Context, client iam.ListUserTagsAPIClient, user string) (map[string]string, error) {
	tags := map[string]string{}
	pages := iam.NewListUserTagsPaginator(client, &iam.ListUserTagsInput{UserName: aws.String(user)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		var noUser *iamtypes.NoSuchEntityException
		if errors.As(err, &noUser) {
			return nil, NewError(UserNotFound, err, "IAM user %s does not exist; check userName", user)
		}
		if err != nil {
			return nil, Classify(err, "read tags of user "+user)
		}
		for _, t := range page.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	if tags[ManagedTagKey] != ManagedTagValue {
		return nil, NewError(UserNotManaged, nil,
			"IAM user %s is not tagged %s=%s; keyrotor rotates only users that opted in — tag the user to allow it",
			user, ManagedTagKey, ManagedTagValue)
	}
	return tags, nil
}

// onlyInputFields refuses an execution input that sets fields the steps own (lockId,
// extensions, previousAccessKeyIds…): they would steer the rotation.
func onlyInputFields(r Rotation) error {
	r.UserName, r.ParameterName, r.GraceSeconds, r.InactiveSeconds, r.Format = "", "", nil, nil, ""
	r.Move, r.ChangeFormat, r.AccountID, r.SESRegion, r.Fleet = false, false, "", "", nil
	var set, unset map[string]json.RawMessage
	got, _ := json.Marshal(r)
	zero, _ := json.Marshal(Rotation{})
	_ = json.Unmarshal(got, &set)
	_ = json.Unmarshal(zero, &unset)
	var fields []string
	for k, v := range set {
		if string(unset[k]) != string(v) {
			fields = append(fields, k)
		}
	}
	if len(fields) == 0 {
		return nil
	}
	slices.Sort(fields)
	return NewError(InvalidInput, nil,
		"invalid rotation input: %s belong to keyrotor's steps, not to the input; pass only userName, parameterName, graceSeconds, inactiveSeconds, format, sesRegion, move, changeFormat and accountId",
		strings.Join(fields, ", "))
}

// isExecutionInput proves Begin's authority: the request is the input of its execution, which
// is RUNNING (DescribeExecution returns both,
// https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html).
// Whoever may invoke createkey cannot take a record for another user under a running
// execution's name: the record Begin writes says what the execution was started to do.
func (s *Steps) isExecutionInput(ctx context.Context, req Request) error {
	if s.Executions == nil {
		return NewError(NotAuthorized, nil, "this function cannot ask Step Functions for execution %s's input; nothing was changed", req.ExecutionID)
	}
	out, err := s.Executions.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(req.ExecutionID)})
	var gone *sfntypes.ExecutionDoesNotExist
	var invalid *sfntypes.InvalidArn
	if errors.As(err, &gone) || errors.As(err, &invalid) {
		return NewError(NotAuthorized, nil, "execution %s does not exist; begin acts only for a running execution of the rotation state machine, so nothing was changed", req.ExecutionID)
	}
	if err != nil {
		return Classify(err, "read execution "+req.ExecutionID)
	}
	if out.Status != sfntypes.ExecutionStatusRunning {
		return NewError(NotAuthorized, nil, "execution %s is %s, not RUNNING; nothing was changed", req.ExecutionID, out.Status)
	}
	var input Rotation
	if err := json.Unmarshal([]byte(aws.ToString(out.Input)), &input); err != nil || digest(input) != digest(req.Rotation) {
		return NewError(NotAuthorized, nil,
			"begin for execution %s refused: the request is not the input the execution was started with; a rotation begins only what its execution was asked to do, so nothing was changed",
			req.ExecutionID)
	}
	return nil
}
