package rotation

import "regexp"

// keyrotor's vocabulary: the names, patterns and documents that the Lambdas, the trigger, the
// CLI and the local engine share. Each is defined here once; docs/steps.md is the contract.

// Input is the execution input of the rotation state machine (docs/steps.md): what the CLI,
// the trigger and the schedule send. Unset fields take Begin's defaults. Rotation carries the
// same fields first (TestRotationBeginsWithTheInput keeps the two alike).
type Input struct {
	UserName        string `json:"userName"`
	ParameterName   string `json:"parameterName,omitempty"`
	GraceSeconds    *int   `json:"graceSeconds,omitempty"`
	InactiveSeconds *int   `json:"inactiveSeconds,omitempty"`
	Format          string `json:"format,omitempty"`
	// Move and ChangeFormat ask, explicitly, to move the user's key to another parameter or to
	// change its format; without them Begin refuses both (docs/steps.md, ownership).
	Move         bool `json:"move,omitempty"`
	ChangeFormat bool `json:"changeFormat,omitempty"`
	// AccountID is the member account whose user is rotated (12 digits); empty: the engine's
	// own account. In a member account every step acts through its keyrotor-target role.
	AccountID string `json:"accountId,omitempty"`
	// SESRegion is the region of the SES SMTP password that format ses-smtp derives (smtp.go).
	SESRegion string `json:"sesRegion,omitempty"`
}

// userNamePattern is IAM's pattern for user names: 1-64 of letters, digits and +=,.@_-
// (https://docs.aws.amazon.com/IAM/latest/APIReference/API_User.html, UserName).
var userNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// ValidUserName reports whether name is a valid IAM user name.
func ValidUserName(name string) bool { return userNamePattern.MatchString(name) }

// LockSuffix names a parameter's lock: <parameterName>.lock.
const LockSuffix = ".lock"

// MaxParameterNameLength bounds parameterName, wherever it is checked (Begin, the CLI). SSM
// counts a parameter name's length with its full ARN, at most 1011 characters
// (PutParameter's Name: "The maximum length for a parameter name, including the full length
// of the parameter ARN, is 1011 characters";
// https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html).
// arn:<partition>:ssm:<region>:<account>:parameter is 55 characters in the longest partition
// and region names (aws-us-gov, us-gov-west-1); 64 leaves room, and the lock adds LockSuffix.
const MaxParameterNameLength = 1011 - 64 - len(LockSuffix)

// The environment variables the engine module sets on the functions (and the CLI reads)
// beside rotation.go's (and the fleet's, internal/fleet).
const (
	// EnvStateMachineARN is the rotation state machine: the trigger starts it, the CLI's
	// default --state-machine.
	EnvStateMachineARN = "KEYROTOR_STATE_MACHINE_ARN"
	// EnvFleetStateMachineARN is the fleet state machine: the CLI's default
	// --fleet-state-machine.
	EnvFleetStateMachineARN = "KEYROTOR_FLEET_STATE_MACHINE_ARN"
)

// ErrorNames are the names a rotation or the trigger may fail with (errors.go, account.go): the errorType
// of its Lambdas, which a person looks up in docs/steps.md. UnexpectedError names nothing and
// UnknownKey no failure.
var ErrorNames = []string{
	InvalidInput, UserNotFound, UserNotManaged, RotationInProgress, TooManyActiveKeys,
	ParameterConflict, ParameterMismatch, FormatMismatch, NotAuthorized, KeyNotYetValid,
	VerificationFailed, AccessDenied, Throttled, ServiceUnavailable, AccountNotAllowed,
	AssumeRoleDenied, MemberAccessDenied, CutOverNotSeen, RotationFailed, RotationStillRunning,
}

// TagPrefix begins every tag and marker keyrotor writes or reads.
const TagPrefix = "keyrotor:"

// The user tags keyrotor reads.
const (
	// ManagedTagKey=ManagedTagValue is the opt-in tag: keyrotor touches only users carrying it.
	ManagedTagKey   = TagPrefix + "managed"
	ManagedTagValue = "true"
	// ParameterTagKey and FormatTagKey adjust a fleet rotation, for users whose parameter is
	// not the default one.
	ParameterTagKey = TagPrefix + "parameter"
	FormatTagKey    = TagPrefix + "format"
)

// DescriptionPrefix marks a parameter version written by keyrotor; the rest of the
// Description is the AccessKeyId it holds, so the held key is known without decrypting.
// (ssmcreds, a module of its own that imports nothing of keyrotor, spells it again.)
const DescriptionPrefix = TagPrefix

// Member accounts (issue 15): one engine (the hub) rotates managed users in other accounts
// of an organization through a role there. The Terraform module infra/modules/member-account
// creates the role and the key under these names; the engine's functions find them by name.
const (
	// TargetRoleName and TargetRolePath name the role in every member account that the hub's
	// functions assume: arn:aws:iam::<accountId>:role/keyrotor/keyrotor-target.
	TargetRoleName = "keyrotor-target"
	TargetRolePath = "/keyrotor/"
	// MemberKMSKeyAlias names the member account's KMS key: it encrypts the parameter and
	// seals the new secret between CreateKey and StoreParameter, inside the member account.
	MemberKMSKeyAlias = "alias/keyrotor-member"
	// EnvTargetExternalID is the ExternalId the functions pass to sts:AssumeRole (the role's
	// trust policy requires it, sts:ExternalId).
	EnvTargetExternalID = "KEYROTOR_TARGET_EXTERNAL_ID"
	// EnvMemberAccounts lists the member accounts (comma-separated 12-digit ids) the functions
	// may act in; a run naming another account fails AccountNotAllowed before any call.
	EnvMemberAccounts = "KEYROTOR_MEMBER_ACCOUNTS"
)

// TargetRoleARN is the keyrotor-target role of a member account in partition (aws, aws-cn,
// aws-us-gov).
func TargetRoleARN(partition, accountID string) string {
	if partition == "" {
		partition = "aws"
	}
	return "arn:" + partition + ":iam::" + accountID + ":role" + TargetRolePath + TargetRoleName
}

// accountIDPattern is an AWS account id: 12 digits
// (https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-identifiers.html).
var accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)

// ValidAccountID reports whether id is an AWS account id (12 digits).
func ValidAccountID(id string) bool { return accountIDPattern.MatchString(id) }
