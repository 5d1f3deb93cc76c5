// Package rotation is keyrotor's domain: the steps of an access key rotation (begin, create,
// store, verify, deactivate, delete and the rollback paths), each idempotent, over narrow
// interfaces of the IAM, SSM, KMS, STS and Step Functions clients. docs/steps.md is the
// contract these types implement.
package rotation

import (
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Request is the event every rotation Task state sends.
type Request struct {
	Action      string   `json:"action"`
	ExecutionID string   `json:"executionId"`
	Rotation    Rotation `json:"rotation"`
}

// Rotation is the rotation document that travels through the state machine; each step returns
// it updated. It never holds a plaintext secret.
type Rotation struct {
	// Input is what the execution was started with: Begin reads the input as a Rotation, so the
	// document begins with it (embedded: the same JSON names, at the top level).
	Input
	// Fleet is the scope of the fleet that started this rotation (set by the fleet's Map, not
	// by a person): Begin rechecks the rotation against it (fleet_items.go).
	Fleet *FleetScope `json:"fleet,omitempty"`

	// UserID is the IAM user id Begin read; MovedFrom the parameter a move leaves.
	UserID                   string   `json:"userId,omitempty"`
	MovedFrom                string   `json:"movedFrom,omitempty"`
	LockID                   string   `json:"lockId,omitempty"`
	NewAccessKeyID           string   `json:"newAccessKeyId,omitempty"`
	SealedSecret             string   `json:"sealedSecret,omitempty"`
	PreviousAccessKeyIDs     []string `json:"previousAccessKeyIds,omitempty"`
	PreviousParameterVersion int64    `json:"previousParameterVersion"`
	ParameterVersion         int64    `json:"parameterVersion"`
	VerifiedAt               string   `json:"verifiedAt,omitempty"`
	STSCalls                 int      `json:"stsCalls"`
	StillInUse               bool     `json:"stillInUse"`
	ExtendSeconds            int      `json:"extendSeconds"`
	Extensions               int      `json:"extensions"`
	DeactivatedAccessKeyIDs  []string `json:"deactivatedAccessKeyIds,omitempty"`
	DeletedAccessKeyIDs      []string `json:"deletedAccessKeyIds,omitempty"`
	// KeptInactiveAccessKeyIDs are old keys keyrotor never recorded creating: deactivated,
	// never deleted (cause UnknownKey).
	KeptInactiveAccessKeyIDs []string `json:"keptInactiveAccessKeyIds,omitempty"`

	Error   *CaughtError `json:"error,omitempty"`
	Failure *Failure     `json:"failure,omitempty"`
}

// CaughtError is what the state machine's Catch puts at $.error.
type CaughtError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// Failure is what the final Fail state reports (ErrorPath $.failure.error, CausePath $.failure.cause).
type Failure struct {
	Error string `json:"error"`
	Cause string `json:"cause"`
}

// Formats of the stored parameter value.
const (
	FormatJSON = "json" // {"AccessKeyId": ..., "SecretAccessKey": ...}
	FormatRaw  = "raw"  // the secret access key alone
)

// Input defaults and bounds (docs/steps.md).
const (
	DefaultGraceSeconds    = 3600
	MaxGraceSeconds        = 604800
	DefaultInactiveSeconds = 86400
	MaxInactiveSeconds     = 2592000
	// MaxExtensions bounds how often deactivation is postponed while an old key is in use.
	MaxExtensions = 3
	// minExtendSeconds keeps a grace extension meaningful when graceSeconds is tiny.
	minExtendSeconds = 60
)

// Config is the engine's configuration, read from the function's environment.
type Config struct {
	KMSKeyID        string // KEYROTOR_KMS_KEY_ID: seals secrets and encrypts the SecureString
	ParameterPrefix string // KEYROTOR_PARAMETER_PREFIX, default /keyrotor/
	// PropagationWindow (KEYROTOR_PROPAGATION_SECONDS, default 120) is how long after its
	// creation a key refused by STS counts as still propagating (KeyNotYetValid) rather than
	// wrong (VerificationFailed).
	PropagationWindow time.Duration
	// MinGraceSeconds and MinInactiveSeconds (KEYROTOR_MIN_GRACE_SECONDS,
	// KEYROTOR_MIN_INACTIVE_SECONDS; default DefaultMinGraceSeconds and
	// DefaultMinInactiveSeconds) are the engine's floors: no caller may ask for shorter waits.
	MinGraceSeconds, MinInactiveSeconds int
	// MemberAccounts (KEYROTOR_MEMBER_ACCOUNTS) are the accounts whose keyrotor-target role
	// the functions may assume; TargetExternalID (KEYROTOR_TARGET_EXTERNAL_ID) is the
	// ExternalId they pass.
	MemberAccounts   []string
	TargetExternalID string
}

// Environment variable names.
const (
	EnvKMSKeyID           = "KEYROTOR_KMS_KEY_ID"
	EnvParameterPrefix    = "KEYROTOR_PARAMETER_PREFIX"
	EnvPropagationSeconds = "KEYROTOR_PROPAGATION_SECONDS"
	EnvMinGraceSeconds    = "KEYROTOR_MIN_GRACE_SECONDS"
	EnvMinInactiveSeconds = "KEYROTOR_MIN_INACTIVE_SECONDS"
	// The floors when the environment does not set them: the engine module's defaults.
	DefaultMinGraceSeconds    = int(InUseWindow / time.Second) // inuse.go: no grace shorter than IAM can show a use
	DefaultMinInactiveSeconds = 3600
	DefaultParameterPrefix    = "/keyrotor/"
	defaultPropagation        = 120 * time.Second
)

// ConfigFromEnv reads Config; needKMS says whether the caller seals or stores secrets.
func ConfigFromEnv(needKMS bool) (Config, error) {
	c := Config{
		KMSKeyID:          os.Getenv(EnvKMSKeyID),
		ParameterPrefix:   os.Getenv(EnvParameterPrefix),
		PropagationWindow: defaultPropagation,
	}
	if c.ParameterPrefix == "" {
		c.ParameterPrefix = DefaultParameterPrefix
	}
	if !strings.HasPrefix(c.ParameterPrefix, "/") || !strings.HasSuffix(c.ParameterPrefix, "/") {
		return c, fmt.Errorf("%s=%q must start and end with '/', e.g. /keyrotor/", EnvParameterPrefix, c.ParameterPrefix)
	}
	if needKMS && c.KMSKeyID == "" {
		return c, fmt.Errorf("%s is not set; set it to the engine's KMS key id or ARN", EnvKMSKeyID)
	}
	if v := os.Getenv(EnvPropagationSeconds); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, fmt.Errorf("%s=%q must be a whole number of seconds", EnvPropagationSeconds, v)
		}
		c.PropagationWindow = time.Duration(n) * time.Second
	}
	for _, a := range strings.Split(os.Getenv(EnvMemberAccounts), ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if !ValidAccountID(a) {
			return c, fmt.Errorf("%s lists %q, which is not a 12-digit AWS account id", EnvMemberAccounts, a)
		}
		c.MemberAccounts = append(c.MemberAccounts, a)
	}
	c.TargetExternalID = os.Getenv(EnvTargetExternalID)
	if len(c.MemberAccounts) > 0 && c.TargetExternalID == "" {
		return c, fmt.Errorf("%s lists member accounts but %s is not set; set it to the external id the member accounts' %s roles require", EnvMemberAccounts, EnvTargetExternalID, TargetRoleName)
	}
	for _, f := range []struct {
		env string
		to  *int
		def int
	}{{EnvMinGraceSeconds, &c.MinGraceSeconds, DefaultMinGraceSeconds}, {EnvMinInactiveSeconds, &c.MinInactiveSeconds, DefaultMinInactiveSeconds}} {
		*f.to = f.def
		if v, ok := os.LookupEnv(f.env); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return c, fmt.Errorf("%s=%q must be a whole number of seconds", f.env, v)
			}
			*f.to = n
		}
	}
	return c, nil
}

var (
	paramNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.\-/]+$`)
)

// withDefaults validates the execution input and fills in defaults.
func (c Config) withDefaults(r Rotation) (Rotation, error) {
	var problems []string
	if r.UserName == "" {
		problems = append(problems, `userName is required (the IAM user whose key to rotate)`)
	} else if !ValidUserName(r.UserName) {
		problems = append(problems, fmt.Sprintf("userName %q is not a valid IAM user name", r.UserName))
	}
	// The default name, when the user name makes one: IAM allows +=,@ in user names, which
	// parameter names refuse; such a user's parameter is its keyrotor:parameter tag (Begin).
	if def := c.ParameterPrefix + r.UserName; r.ParameterName == "" && r.UserName != "" && paramNameRE.MatchString(def) {
		r.ParameterName = def
	}
	switch {
	case r.ParameterName == "":
	case !strings.HasPrefix(r.ParameterName, c.ParameterPrefix):
		problems = append(problems, fmt.Sprintf("parameterName %q must be under %s", r.ParameterName, c.ParameterPrefix))
	case !paramNameRE.MatchString(r.ParameterName) || len(r.ParameterName) > MaxParameterNameLength:
		problems = append(problems, fmt.Sprintf("parameterName %q may use only a-z A-Z 0-9 _ . - / and at most %d characters", r.ParameterName, MaxParameterNameLength))
	case strings.HasSuffix(r.ParameterName, "/") || strings.Contains(r.ParameterName, "//") ||
		strings.Contains(r.ParameterName+"/", "/./") || strings.Contains(r.ParameterName+"/", "/../"):
		problems = append(problems, fmt.Sprintf("parameterName %q must name a parameter under %s without empty, '.' or '..' path segments or a trailing '/'", r.ParameterName, c.ParameterPrefix))
	case strings.HasSuffix(r.ParameterName, LockSuffix):
		problems = append(problems, fmt.Sprintf("parameterName %q must not end in %s (keyrotor's lock names)", r.ParameterName, LockSuffix))
	}
	r.GraceSeconds = defaulted(r.GraceSeconds, DefaultGraceSeconds)
	if g := *r.GraceSeconds; g < c.MinGraceSeconds || g > MaxGraceSeconds {
		problems = append(problems, fmt.Sprintf("graceSeconds %d must be between %d (the engine's floor, %s) and %d", g, c.MinGraceSeconds, EnvMinGraceSeconds, MaxGraceSeconds))
	}
	r.InactiveSeconds = defaulted(r.InactiveSeconds, DefaultInactiveSeconds)
	if s := *r.InactiveSeconds; s < c.MinInactiveSeconds || s > MaxInactiveSeconds {
		problems = append(problems, fmt.Sprintf("inactiveSeconds %d must be between %d (the engine's floor, %s) and %d", s, c.MinInactiveSeconds, EnvMinInactiveSeconds, MaxInactiveSeconds))
	}
	if r.AccountID != "" && !ValidAccountID(r.AccountID) {
		problems = append(problems, fmt.Sprintf("accountId %q must be a 12-digit AWS account id (omit it for the engine's own account)", r.AccountID))
	}
	if r.Format == "" {
		r.Format = FormatJSON
	}
	problems = append(problems, formatProblems(r)...)
	if len(problems) > 0 {
		return r, NewError(InvalidInput, nil, "invalid rotation input: %s", strings.Join(problems, "; "))
	}
	return r, nil
}

func defaulted(v *int, def int) *int {
	if v != nil {
		return v
	}
	return &def
}

// stepLogger carries the fields every log line of a step has.
func stepLogger(l *slog.Logger, req Request) *slog.Logger {
	l = l.With("execution", req.ExecutionID, "user", req.Rotation.UserName, "step", req.Action)
	if req.Rotation.AccountID != "" {
		l = l.With("account", req.Rotation.AccountID)
	}
	return l
}
