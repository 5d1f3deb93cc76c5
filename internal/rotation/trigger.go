package rotation

// The trigger: keyrotor's entry for Terraform (aws_lambda_invocation with lifecycle_scope CRUD)
// and the CLI. Create and update start a rotation and return once its new key is verified;
// delete removes the user's managed keys and the parameter. Only ids and names come back. It
// uses the steps' own checks: the managed tag (managedTags), the ownership record (ReadOwner),
// the lock (readLock), key listing and deletion (listKeys, deleteKey) and the classification of
// AWS failures (Classify).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// DestroyedError is the error a rotation that destroy stopped ends ABORTED with.
const DestroyedError = "keyrotor.Destroyed"

// TriggerEvent is what Terraform sends: the module's input plus, with lifecycle_scope CRUD,
// "tf". Without "tf" (the CLI), the action is create.
type TriggerEvent struct {
	Rotation      Input  `json:"rotation"`
	RotationToken string `json:"rotationToken,omitempty"` // changed to force a rotation; unused otherwise
	TF            *TF    `json:"tf,omitempty"`
}

// TF is what the AWS provider adds for lifecycle_scope CRUD.
type TF struct {
	Action    string          `json:"action"` // create, update or delete
	PrevInput json.RawMessage `json:"prev_input,omitempty"`
}

// TriggerResult is what Terraform stores: never a secret.
type TriggerResult struct {
	AccessKeyID   string `json:"access_key_id"`
	ParameterName string `json:"parameter_name"`
	ParameterARN  string `json:"parameter_arn"`
	ExecutionARN  string `json:"execution_arn,omitempty"`
}

// TriggerExecutions is the part of the Step Functions client the trigger uses.
type TriggerExecutions interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, opts ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, opts ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	StopExecution(ctx context.Context, in *sfn.StopExecutionInput, opts ...func(*sfn.Options)) (*sfn.StopExecutionOutput, error)
	sfn.GetExecutionHistoryAPIClient
}

// KeyRemover is the part of the IAM client that destroy uses.
type KeyRemover interface {
	// GetUser gives the user's IAM user id: identity is the account and the id, not the name.
	userTagLister
	keyLister
	keyDeleter
}

// ParameterRemover is the part of the SSM client that destroy uses: it reads the parameter's
// ownership record (ReadOwner) and the lock (its holder), and deletes the parameter and the lock.
type ParameterRemover interface {
	ownerReader
	lockReader
	DeleteParameter(ctx context.Context, in *ssm.DeleteParameterInput, opts ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error)
}

// Trigger starts and awaits rotations, and removes what they made.
type Trigger struct {
	StateMachineARN string
	ParameterPrefix string
	Executions      TriggerExecutions
	IAM             KeyRemover
	SSM             ParameterRemover
	Logger          *slog.Logger
	// PollInterval is the first wait between checks of a running execution; it doubles up to
	// MaxPollInterval.
	PollInterval, MaxPollInterval time.Duration
	// DeadlineMargin is left of the invocation's deadline to answer "still running".
	DeadlineMargin time.Duration
	Now            func() time.Time
	// MemberAccounts are the engine's member accounts (KEYROTOR_MEMBER_ACCOUNTS): an event
	// naming another accountId fails AccountNotAllowed before any call. Member gives the IAM
	// and SSM clients acting in one of them (its keyrotor-target role), for destroy and
	// update; the rotation itself acts there through the state machine's steps.
	MemberAccounts []string
	Member         func(ctx context.Context, account string) (KeyRemover, ParameterRemover, error)
}

var (
	executionNameBad = regexp.MustCompile(`[^A-Za-z0-9_-]`)
)

// Handle serves one invocation.
func (t *Trigger) Handle(ctx context.Context, ev TriggerEvent) (TriggerResult, error) {
	action := "create"
	if ev.TF != nil && ev.TF.Action != "" {
		action = ev.TF.Action
	}
	in, err := t.defaulted(ev.Rotation)
	if err != nil {
		return TriggerResult{}, err
	}
	log := t.Logger.With("user", in.UserName, "parameter", in.ParameterName, "action", action)
	hub := t
	if in.AccountID != "" {
		log = log.With("account", in.AccountID)
		member, err := t.InAccount(ctx, in.AccountID)
		if err != nil {
			return TriggerResult{}, err
		}
		t = member
	}
	switch action {
	case "create", "update":
		if action == "update" {
			in = t.explicitChanges(ev.TF.PrevInput, in)
		}
		res, err := t.rotate(ctx, log, in)
		if err != nil {
			return TriggerResult{}, err
		}
		if action == "update" {
			if err := hub.removeMovedFrom(ctx, log, ev.TF.PrevInput, in); err != nil {
				return TriggerResult{}, err
			}
		}
		return res, nil
	case "delete":
		return t.remove(ctx, log, in)
	}
	return TriggerResult{}, &Error{Name: InvalidInput, Message: fmt.Sprintf("tf.action %q is not create, update or delete", action)}
}

// inAccount returns a Trigger whose IAM and SSM clients act in member account (Step Functions
// stays the hub's), or AccountNotAllowed before any call for an account that is not a member.
func (t *Trigger) InAccount(ctx context.Context, account string) (*Trigger, error) {
	if !ValidAccountID(account) {
		return nil, &Error{Name: InvalidInput, Message: fmt.Sprintf("accountId %q is not a 12-digit AWS account id; omit it for the engine's own account", account)}
	}
	if !slices.Contains(t.MemberAccounts, account) || t.Member == nil {
		return nil, AccountNotAllowedError(t.MemberAccounts, account)
	}
	iamc, ssmc, err := t.Member(ctx, account)
	if err != nil {
		return nil, err
	}
	member := *t
	member.IAM, member.SSM = iamc, ssmc
	return &member, nil
}

func (t *Trigger) defaulted(in Input) (Input, error) {
	if !ValidUserName(in.UserName) {
		return in, &Error{Name: InvalidInput, Message: fmt.Sprintf(`userName %q is not an IAM user name; send {"rotation": {"userName": "s3-signer"}}`, in.UserName)}
	}
	if in.ParameterName == "" {
		in.ParameterName = t.ParameterPrefix + in.UserName
	}
	if !strings.HasPrefix(in.ParameterName, t.ParameterPrefix) || strings.HasSuffix(in.ParameterName, LockSuffix) {
		return in, &Error{Name: InvalidInput, Message: fmt.Sprintf("parameterName %q must lie under %s and not end in %s", in.ParameterName, t.ParameterPrefix, LockSuffix)}
	}
	return in, nil
}

func (t *Trigger) rotate(ctx context.Context, log *slog.Logger, in Input) (TriggerResult, error) {
	input, err := json.Marshal(in)
	if err != nil {
		return TriggerResult{}, fmt.Errorf("encode execution input: %w", err)
	}
	name, err := t.executionName(in.UserName)
	if err != nil {
		return TriggerResult{}, err
	}
	out, err := t.Executions.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(t.StateMachineARN), Name: aws.String(name), Input: aws.String(string(input)),
	})
	if err != nil {
		return TriggerResult{}, Classify(err, fmt.Sprintf("start rotation of %s on %s", in.UserName, t.StateMachineARN))
	}
	execARN := aws.ToString(out.ExecutionArn)
	log = log.With("execution", execARN)
	log.Info("rotation started")
	id, err := t.awaitVerified(ctx, log, execARN)
	if err != nil {
		return TriggerResult{}, err
	}
	log.Info("new key verified", "accessKeyId", id)
	paramARN, err := t.parameterARN(in.AccountID, in.ParameterName)
	if err != nil {
		return TriggerResult{}, err
	}
	return TriggerResult{AccessKeyID: id, ParameterName: in.ParameterName, ParameterARN: paramARN, ExecutionARN: execARN}, nil
}

func (t *Trigger) executionName(user string) (string, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("execution name: %w", err)
	}
	u := executionNameBad.ReplaceAllString(user, "-")
	if len(u) > 48 {
		u = u[:48]
	}
	return "tf-" + u + "-" + t.now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:]), nil
}

// awaitVerified polls the execution until VerifyKey has exited successfully (or the execution
// ended) and returns the verified AccessKeyId.
func (t *Trigger) awaitVerified(ctx context.Context, log *slog.Logger, execARN string) (string, error) {
	wait := t.PollInterval
	for {
		d, err := t.Executions.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(execARN)})
		if err != nil {
			return "", Classify(err, fmt.Sprintf("describe rotation %s", execARN))
		}
		switch d.Status {
		case sfntypes.ExecutionStatusSucceeded:
			if id := verifiedKey(aws.ToString(d.Output)); id != "" {
				return id, nil
			}
			return "", &Error{Name: RotationFailed, Message: fmt.Sprintf("rotation %s succeeded without a verified key in its output", execARN)}
		case sfntypes.ExecutionStatusFailed, sfntypes.ExecutionStatusTimedOut, sfntypes.ExecutionStatusAborted:
			return "", &Error{Name: RotationFailed, Message: fmt.Sprintf("rotation %s ended %s: %s: %s",
				execARN, d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))}
		}
		id, err := t.verifiedInHistory(ctx, execARN)
		if err != nil {
			return "", err
		}
		if id != "" {
			return id, nil
		}
		log.Debug("waiting for verification", "wait", wait.String())
		if wait, err = t.pause(ctx, wait, "rotation "+execARN, fmt.Sprintf(
			"rotation %s has not verified its key before this invocation's deadline; it continues — apply again once it has finished (Step Functions console)", execARN)); err != nil {
			return "", err
		}
	}
}

// verifiedInHistory looks for VerifyKey's successful exit, newest events first.
func (t *Trigger) verifiedInHistory(ctx context.Context, execARN string) (string, error) {
	pages := sfn.NewGetExecutionHistoryPaginator(t.Executions, &sfn.GetExecutionHistoryInput{
		ExecutionArn: aws.String(execARN), ReverseOrder: true, IncludeExecutionData: aws.Bool(true),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return "", Classify(err, fmt.Sprintf("read history of rotation %s", execARN))
		}
		for _, e := range page.Events {
			x := e.StateExitedEventDetails
			if x == nil || aws.ToString(x.Name) != VerifyState {
				continue
			}
			if id := verifiedKey(aws.ToString(x.Output)); id != "" {
				return id, nil
			}
		}
	}
	return "", nil
}

// verifiedKey reads newAccessKeyId from a rotation document that VerifyKey has stamped.
func verifiedKey(doc string) string {
	var r struct {
		NewAccessKeyID string `json:"newAccessKeyId"`
		VerifiedAt     string `json:"verifiedAt"`
	}
	if json.Unmarshal([]byte(doc), &r) != nil || r.VerifiedAt == "" {
		return ""
	}
	return r.NewAccessKeyID
}

// parameterARN is the ARN of parameter name in account ("": the engine's own).
func (t *Trigger) parameterARN(account, name string) (string, error) {
	sm, err := arn.Parse(t.StateMachineARN)
	if err != nil {
		return "", &Error{Name: InvalidInput, Message: fmt.Sprintf("KEYROTOR_STATE_MACHINE_ARN %q is not an ARN", t.StateMachineARN), Err: err}
	}
	if account == "" {
		account = sm.AccountID
	}
	return arn.ARN{Partition: sm.Partition, Service: "ssm", Region: sm.Region, AccountID: account, Resource: "parameter" + name}.String(), nil
}

// remove deletes every key of the (managed) user, the parameter and its lock, once the
// parameter's ownership record names that user. What is already gone is skipped, so a repeated
// destroy succeeds.
func (t *Trigger) remove(ctx context.Context, log *slog.Logger, in Input) (TriggerResult, error) {
	// Checked here, before anything is deleted: the role's tag condition is the only other
	// guard (defence in depth; moto, locally, ignores conditions).
	exists, err := t.checkManaged(ctx, in.UserName)
	if err != nil {
		return TriggerResult{}, err
	}
	if err := t.spelledAsIAM(ctx, in.UserName, exists); err != nil {
		return TriggerResult{}, err
	}
	if err := t.checkOwner(ctx, in.UserName, in.ParameterName, exists, true); err != nil {
		return TriggerResult{}, err
	}
	if err := t.stopHolder(ctx, log, in.ParameterName); err != nil {
		return TriggerResult{}, err
	}
	if err := t.deleteKeys(ctx, log, in.UserName, exists); err != nil {
		return TriggerResult{}, err
	}
	if err := t.deleteParameter(ctx, log, in.ParameterName); err != nil {
		return TriggerResult{}, err
	}
	paramARN, err := t.parameterARN(in.AccountID, in.ParameterName)
	if err != nil {
		return TriggerResult{}, err
	}
	return TriggerResult{ParameterName: in.ParameterName, ParameterARN: paramARN}, nil
}

// checkOwner fails closed unless the parameter is absent or its ownership record (tags, or for
// a parameter written before them, the key it holds) names user. A user that does not exist
// owns nothing: its name cannot unlock another user's parameter. keysGo says the user's keys
// are deleted too (a destroy, or an update away from the user): then an absent parameter is
// no licence while another of the user's parameters holds its key.
func (t *Trigger) checkOwner(ctx context.Context, user, parameterName string, userExists, keysGo bool) error {
	owner, err := ReadOwner(ctx, t.SSM, parameterName)
	if err != nil {
		return err
	}
	if !owner.Exists {
		if !userExists || !keysGo {
			return nil
		}
		// Nothing to delete here, but the user's keys go too: not while its key is in another
		// of its parameters (the default name or its keyrotor:parameter tag), whose consumers
		// depend on it.
		_, tags, err := t.managedTags(ctx, user)
		if err != nil {
			return err
		}
		for _, other := range []string{t.ParameterPrefix + user, tags[ParameterTagKey]} {
			if other == "" || other == parameterName {
				continue
			}
			o, err := ReadOwner(ctx, t.SSM, other)
			if err != nil {
				return err
			}
			if o.Exists && (o.User == user || o.User == "" && o.HeldKey != "") {
				return &Error{Name: NotAuthorized, Message: fmt.Sprintf(
					"%s: parameter %s does not exist, and IAM user %s's key is in %s, whose consumers depend on it; nothing was deleted. Name %s to remove it",
					NotAuthorized, parameterName, user, other, other)}
			}
		}
		return nil
	}
	if !userExists {
		return &Error{Name: UserNotFound, Message: fmt.Sprintf(
			"%s: IAM user %s does not exist, so it owns no parameter; %s (recorded owner %q) is left as it is, with its lock and any  Delete it by hand if it is truly orphaned",
			UserNotFound, user, parameterName, owner.User)}
	}
	var keys []string
	if owner.User == "" {
		all, err := listKeys(ctx, t.IAM, user)
		if err != nil {
			return err
		}
		for _, k := range all {
			keys = append(keys, aws.ToString(k.AccessKeyId))
		}
	}
	// A user deleted and re-created under the same name is someone else: a parameter recorded
	// for the old user's id is not the new user's, whatever its name says.
	userID := ""
	if owner.UserID != "" {
		u, err := t.IAM.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(user)})
		if err != nil {
			return Classify(err, fmt.Sprintf("read IAM user %s", user))
		}
		userID = aws.ToString(u.User.UserId)
		if userID != owner.UserID {
			return &Error{Name: NotAuthorized, Message: fmt.Sprintf(
				"%s: parameter %s was recorded for IAM user %s with user id %s, but %s now has user id %s (it was deleted and re-created); the parameter is a previous user's, so nothing was stopped or deleted",
				NotAuthorized, parameterName, owner.User, owner.UserID, user, userID)}
		}
	}
	if !owner.OwnedBy(user, userID, keys) {
		named := fmt.Sprintf("names IAM user %q", owner.User)
		if owner.User == "" {
			named = fmt.Sprintf("holds key %q, not a key of %s", owner.HeldKey, user)
		}
		return &Error{Name: NotAuthorized, Message: fmt.Sprintf(
			"%s: parameter %s is not %s's: its ownership record %s. Nothing was stopped or deleted; name the parameter's own user",
			NotAuthorized, parameterName, user, named)}
	}
	return nil
}

// spelledAsIAM refuses a user name that IAM resolves to a user spelled otherwise: "names are
// not distinguished by case" (CreateUser's UserName,
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateUser.html), so
// VICTIM reaches victim's keys while its default parameter /keyrotor/VICTIM is nobody's.
func (t *Trigger) spelledAsIAM(ctx context.Context, user string, exists bool) error {
	if !exists {
		return nil
	}
	u, err := t.IAM.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(user)})
	if err != nil {
		return Classify(err, fmt.Sprintf("read IAM user %s", user))
	}
	if name := aws.ToString(u.User.UserName); name != user {
		return &Error{Name: NotAuthorized, Message: fmt.Sprintf(
			"%s: IAM user names are case-insensitive and %q is IAM user %q; name it as IAM spells it. Nothing was stopped or deleted",
			NotAuthorized, user, name)}
	}
	return nil
}

// explicitChanges marks an update that Terraform made to the parameter name or format as a
// move or format change; Begin still checks both against the parameter's records.
func (t *Trigger) explicitChanges(prevInput json.RawMessage, in Input) Input {
	var prev TriggerEvent
	if len(prevInput) == 0 || json.Unmarshal(prevInput, &prev) != nil {
		return in
	}
	old, err := t.defaulted(prev.Rotation)
	if err != nil || old.UserName != in.UserName || old.AccountID != in.AccountID {
		return in
	}
	in.Move = in.Move || old.ParameterName != in.ParameterName
	in.ChangeFormat = in.ChangeFormat || (old.Format != "" && old.Format != in.Format)
	return in
}

func (t *Trigger) deleteParameter(ctx context.Context, log *slog.Logger, name string) error {
	for _, n := range []string{name, name + LockSuffix} {
		_, err := t.SSM.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: aws.String(n)})
		var gone *ssmtypes.ParameterNotFound
		if errors.As(err, &gone) {
			continue
		}
		if err != nil {
			return Classify(err, fmt.Sprintf("delete parameter %s", n))
		}
		log.Info("parameter deleted", "deleted", n)
	}
	return nil
}

// stopHolder stops the rotation that holds the parameter's lock and waits until it has ended.
// A rotation in its grace or inactive wait (with the module's defaults, for a day after apply)
// would otherwise wake to find its lock deleted and end FAILED, raising the failure alarm for a
// destroy that went as asked; stopped, it ends ABORTED, which the alarms do not count and the
// alert rule skips by its error, DestroyedError.
func (t *Trigger) stopHolder(ctx context.Context, log *slog.Logger, parameterName string) error {
	lockName := lockName(parameterName)
	held, err := readLock(ctx, t.SSM, parameterName)
	if err != nil || held == nil {
		return err
	}
	if !t.ownExecution(held.ExecutionID) {
		// Nothing of this state machine holds it; deleting it can fail no rotation of ours.
		log.Warn("lock names no rotation of this state machine; deleting it", "lock", lockName)
		return nil
	}
	execARN := held.ExecutionID
	log = log.With("holder", execARN)
	wait := t.PollInterval
	stopped := false
	for {
		d, err := t.Executions.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(execARN)})
		var missing *sfntypes.ExecutionDoesNotExist
		if errors.As(err, &missing) {
			return nil
		}
		if err != nil {
			return Classify(err, fmt.Sprintf("describe rotation %s that holds %s", execARN, lockName))
		}
		if d.Status != sfntypes.ExecutionStatusRunning {
			if stopped {
				log.Info("rotation stopped", "status", string(d.Status))
			}
			return nil
		}
		if !stopped {
			_, err := t.Executions.StopExecution(ctx, &sfn.StopExecutionInput{
				ExecutionArn: aws.String(execARN),
				Error:        aws.String(DestroyedError),
				Cause:        aws.String(fmt.Sprintf("keyrotor's trigger removes %s and %s (terraform destroy, or an update away from them); this rotation stops so that it does not fail on what is gone", parameterName, lockName)),
			})
			if err != nil {
				return Classify(err, fmt.Sprintf("stop rotation %s that holds %s (destroy deletes nothing while it runs)", execARN, lockName))
			}
			stopped = true
			log.Info("stopping the rotation that holds the lock", "lock", lockName)
			continue
		}
		if wait, err = t.pause(ctx, wait, "rotation "+execARN+" to end", fmt.Sprintf(
			"rotation %s was stopped but has not ended before this invocation's deadline; nothing was deleted — destroy again", execARN)); err != nil {
			return err
		}
	}
}

// pause waits wait before the next check of a running execution and returns the next wait,
// doubled up to MaxPollInterval; it answers RotationStillRunning instead, saying late, when the
// invocation's deadline (less DeadlineMargin) would pass first, or when ctx ends.
func (t *Trigger) pause(ctx context.Context, wait time.Duration, waitingFor, late string) (time.Duration, error) {
	if deadline, ok := ctx.Deadline(); ok && t.now().Add(wait+t.DeadlineMargin).After(deadline) {
		return wait, NewError(RotationStillRunning, nil, "%s", late)
	}
	select {
	case <-ctx.Done():
		return wait, NewError(RotationStillRunning, ctx.Err(), "stopped waiting for %s", waitingFor)
	case <-time.After(wait):
	}
	return min(wait*2, t.MaxPollInterval), nil
}

// ownExecution reports whether arn is an execution of the trigger's state machine.
func (t *Trigger) ownExecution(execARN string) bool {
	prefix := strings.Replace(t.StateMachineARN, ":stateMachine:", ":execution:", 1) + ":"
	return prefix != ":" && strings.HasPrefix(execARN, prefix) && len(execARN) > len(prefix)
}

// checkManaged refuses a user without keyrotor:managed=true; a user that is gone (exists
// false) has no keys left to protect.
func (t *Trigger) checkManaged(ctx context.Context, user string) (exists bool, err error) {
	exists, _, err = t.managedTags(ctx, user)
	return exists, err
}

// managedTags is the steps' check (readManagedTags) as destroy needs it: a user that is gone
// is no error, and an unmanaged one is refused with what destroy can do about it.
func (t *Trigger) managedTags(ctx context.Context, user string) (exists bool, tags map[string]string, err error) {
	tags, err = readManagedTags(ctx, t.IAM, user)
	if err == nil {
		return true, tags, nil
	}
	switch ErrorName(err) {
	case UserNotFound:
		return false, nil, nil
	case UserNotManaged:
		return true, nil, NewError(UserNotManaged, nil,
			"%s: IAM user %s is not tagged %s=%s, so keyrotor deletes none of its keys and parameters; tag the user to let destroy remove them, or drop the module from state (terraform state rm) to leave them",
			UserNotManaged, user, ManagedTagKey, ManagedTagValue)
	}
	return false, nil, err
}

// deleteKeys deletes every access key of a user that checkManaged let through; a user that is
// gone has none.
func (t *Trigger) deleteKeys(ctx context.Context, log *slog.Logger, user string, exists bool) error {
	var keys []iamtypes.AccessKeyMetadata
	var err error
	if exists {
		keys, err = listKeys(ctx, t.IAM, user)
	}
	if !exists || ErrorName(err) == UserNotFound {
		log.Info("user already deleted", "deletedUser", user)
		return nil
	}
	if err != nil {
		return err
	}
	for _, k := range keys {
		id := aws.ToString(k.AccessKeyId)
		if err := deleteKey(ctx, t.IAM, user, id); err != nil {
			return err
		}
		log.Info("managed key deleted", "keyUser", user, "accessKeyId", id)
	}
	return nil
}

// removeMovedFrom cleans up, once the new key is verified, what an update moved away from: a
// renamed parameter is deleted with its lock; a previous user is treated as destroyed (its
// keys go too), as if its module block had been removed — else its keys would stay active
// with nobody rotating them.
func (t *Trigger) removeMovedFrom(ctx context.Context, log *slog.Logger, prevInput json.RawMessage, in Input) error {
	if len(prevInput) == 0 {
		return nil
	}
	var prev TriggerEvent
	if err := json.Unmarshal(prevInput, &prev); err != nil {
		return nil // not an input this trigger wrote: nothing of ours to clean up
	}
	old, err := t.defaulted(prev.Rotation)
	if err != nil {
		return nil
	}
	// Identity is the account and the user: the previous input's user lives in its own
	// account (the hub's when it names none), and is acted on there and only there.
	at := t
	if old.AccountID != "" {
		if at, err = t.InAccount(ctx, old.AccountID); err != nil {
			return err
		}
		log = log.With("previousAccount", old.AccountID)
	}
	otherAccount := old.AccountID != in.AccountID
	renamed := otherAccount || old.ParameterName != in.ParameterName
	otherUser := otherAccount || old.UserName != in.UserName
	if !renamed && !otherUser {
		return nil
	}
	// prev_input is a claim: the old parameter's ownership record must name the old user
	// before any of that user's keys or that parameter is deleted.
	oldExists, err := at.checkManaged(ctx, old.UserName)
	if err != nil && otherUser {
		return err
	}
	if err := at.spelledAsIAM(ctx, old.UserName, oldExists); err != nil {
		return err
	}
	if err := at.checkOwner(ctx, old.UserName, old.ParameterName, oldExists, otherUser); err != nil {
		return err
	}
	if otherUser {
		log.Info("user changed; deleting the previous user's keys", "previousUser", old.UserName)
		// The old parameter's rotation (in its waits) would fail on the keys going away.
		if renamed {
			if err := at.stopHolder(ctx, log, old.ParameterName); err != nil {
				return err
			}
		}
		if err := at.deleteKeys(ctx, log, old.UserName, oldExists); err != nil {
			return err
		}
	}
	if !renamed {
		return nil
	}
	log.Info("parameter renamed; deleting the old one", "oldParameter", old.ParameterName)
	if err := at.stopHolder(ctx, log, old.ParameterName); err != nil {
		return err
	}
	return at.deleteParameter(ctx, log, old.ParameterName)
}

func (t *Trigger) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// NewTrigger configures the trigger Lambda from its environment (ConfigFromEnv and
// KEYROTOR_STATE_MACHINE_ARN): the engine's own clients, and in a member account that
// account's keyrotor-target role, for destroy and update.
func NewTrigger(cfg aws.Config, log *slog.Logger) (*Trigger, error) {
	conf, err := ConfigFromEnv(false)
	if err != nil {
		return nil, err
	}
	machine := os.Getenv(EnvStateMachineARN)
	if machine == "" {
		return nil, fmt.Errorf("%s is not set; set it to the rotation state machine's ARN", EnvStateMachineARN)
	}
	t := &Trigger{
		StateMachineARN: machine,
		ParameterPrefix: conf.ParameterPrefix,
		Executions:      sfn.NewFromConfig(cfg),
		IAM:             iam.NewFromConfig(cfg),
		SSM:             ssm.NewFromConfig(cfg),
		Logger:          log,
		PollInterval:    time.Second,
		MaxPollInterval: 10 * time.Second,
		DeadlineMargin:  5 * time.Second,
		MemberAccounts:  conf.MemberAccounts,
	}
	if members := NewMembers(cfg, conf, TriggerFunction, nil); members != nil {
		// No execution acts, so the member session is named after the trigger.
		partition := PartitionOf(machine)
		t.Member = func(ctx context.Context, account string) (KeyRemover, ParameterRemover, error) {
			mcfg, err := members.Config(ctx, account, partition, "keyrotor-trigger")
			if err != nil {
				return nil, nil, err
			}
			return iam.NewFromConfig(mcfg), ssm.NewFromConfig(mcfg), nil
		}
	}
	return t, nil
}
