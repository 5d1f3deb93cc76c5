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
}

// userNamePattern is IAM's pattern for user names: 1-64 of letters, digits and +=,.@_-
// (https://docs.aws.amazon.com/IAM/latest/APIReference/API_User.html, UserName).
var userNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// ValidUserName reports whether name is a valid IAM user name.
func ValidUserName(name string) bool { return userNamePattern.MatchString(name) }

// LockSuffix names a parameter's lock: <parameterName>.lock.
const LockSuffix = ".lock"

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
