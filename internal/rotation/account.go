package rotation

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
)

// Member accounts (issue 15). A request whose rotation names an accountId is served by Steps
// whose IAM, SSM, KMS and STS clients sign with a session of the member account's
// keyrotor-target role: the user, its keys, the parameter, its lock and the KMS key that seals
// and encrypts the secret are all the member account's, so the secret leaves the member
// account only sealed. Step Functions stays the hub's: DescribeExecution (authority, stale
// locks) is asked with the function's own credentials.
//
// The member role's actions (infra/modules/member-account writes its policy from this list;
// docs/steps.md has the same table):
//
//	iam:GetUser, iam:ListUserTags, iam:ListAccessKeys, iam:CreateAccessKey,
//	iam:UpdateAccessKey, iam:DeleteAccessKey, iam:GetAccessKeyLastUsed, iam:ListUsers (fleet)
//	ssm:GetParameter, ssm:PutParameter, ssm:DeleteParameter, ssm:GetParameterHistory,
//	ssm:AddTagsToResource, ssm:ListTagsForResource
//	kms:Encrypt, kms:Decrypt (alias/keyrotor-member; encryption context of the seal and of
//	Parameter Store's SecureString)
//
// and nothing of sts: GetCallerIdentity with the new key needs no permission.

// roleAssumer is what member accounts use of the hub's STS client.
type roleAssumer interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, opts ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// Error names of the member-account path.
const (
	// AccountNotAllowed: the rotation names an account that is not among the engine's member
	// accounts (KEYROTOR_MEMBER_ACCOUNTS). Nothing was called.
	AccountNotAllowed = "AccountNotAllowed"
	// AssumeRoleDenied: sts:AssumeRole of the member account's keyrotor-target role was
	// refused (missing role, trust policy, external id, or the hub role's permission). The
	// state machine retries it for about a minute, as a role just created or changed propagates
	// (IAM's eventual consistency; statemachine/README.md), then fails closed.
	AssumeRoleDenied = "AssumeRoleDenied"
	// MemberAccessDenied: a call made with the member account's role session was refused: the
	// keyrotor-target role lacks the grant, or a grant just created or changed has not
	// propagated yet (IAM's eventual consistency). The state machine retries it as it retries
	// AssumeRoleDenied, then fails closed naming the action to grant. A denial of the hub's own
	// calls (Step Functions) stays AccessDenied: retrying cannot grant it.
	MemberAccessDenied = "MemberAccessDenied"
)

// FunctionTagKey is the session tag each hub function puts on its member role session
// (sts:AssumeRole Tags; https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html):
// its name, e.g. keyrotor:function=storeparam. The member role's trust policy lets a hub role
// tag a session only with its own name, and the member key and role policy grant the seal's
// Decrypt to storeparam's sessions only (aws:PrincipalTag), so in a member account, as in the
// hub, only storeparam can unseal (infra/modules/member-account).
const FunctionTagKey = TagPrefix + "function"

// Members builds, per member account and execution, the Steps that act in that account.
type Members struct {
	// Allowed are the accounts whose role may be assumed; ExternalID is passed with it.
	Allowed    []string
	ExternalID string
	// STS is the hub's STS client (the function's own credentials).
	STS roleAssumer
	// Base is the hub's aws.Config (region, endpoints, HTTP client); member clients are made
	// from it with the role session's credentials.
	Base aws.Config
	// New builds the function's Steps over a member account's config (the function's
	// constructor, so a member's Steps have the same clients as the hub's).
	New func(aws.Config) *Steps
	// Function is the hub function's name, the FunctionTagKey session tag of its member role
	// sessions ("": none, for callers that are no hub function).
	Function string
	// Duration of a role session (0: 15 minutes, the SDK's default, which also is the
	// least AssumeRole accepts: https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html).
	Duration time.Duration

	mu    sync.Mutex
	cache map[sessionKey]*aws.CredentialsCache
}

type sessionKey struct{ account, session string }

// maxSessions bounds the cached role sessions of a warm function; beyond it the cache is
// emptied (a session costs one AssumeRole to remake).
const maxSessions = 256

// NewMembers returns the member accounts of conf for the hub function named function, each
// served by Steps made with newSteps from the hub's cfg; nil when conf lists none.
func NewMembers(cfg aws.Config, conf Config, function string, newSteps func(aws.Config) *Steps) *Members {
	if len(conf.MemberAccounts) == 0 {
		return nil
	}
	return &Members{Allowed: conf.MemberAccounts, ExternalID: conf.TargetExternalID, STS: sts.NewFromConfig(cfg), Base: cfg,
		Function: function, New: newSteps}
}

// forRequest returns the Steps that serve req: s itself for the engine's own account, else
// Steps acting in the member account through its keyrotor-target role. An account that is
// not a member fails AccountNotAllowed, and a refused AssumeRole AssumeRoleDenied, before
// any other call.
func (s *Steps) forRequest(ctx context.Context, req Request) (*Steps, error) {
	account := req.Rotation.AccountID
	if account == "" {
		return s, nil
	}
	if !ValidAccountID(account) {
		return nil, NewError(InvalidInput, nil, "invalid rotation input: accountId %q must be a 12-digit AWS account id (omit it for the engine's own account)", account)
	}
	var (
		member *Steps
		err    error
	)
	if !slices.Contains(s.Members.allowed(), account) {
		err = AccountNotAllowedError(s.Members.allowed(), account)
	} else {
		member, err = s.Members.steps(ctx, s, account, req.ExecutionID)
	}
	var named *Error
	if errors.As(err, &named) {
		// The Cause a person reads names whose rotation stopped.
		return nil, &Error{Name: named.Name, Message: fmt.Sprintf("IAM user %s of account %s: %s", req.Rotation.UserName, account, named.Message), Err: named.Err}
	}
	return member, err
}

// allowed is m's member accounts (none for a nil m: an engine without member accounts).
func (m *Members) allowed() []string {
	if m == nil {
		return nil
	}
	return m.Allowed
}

// AccountNotAllowedError is the AccountNotAllowed of account (one id, or several joined) for
// an engine whose member accounts are allowed.
func AccountNotAllowedError(allowed []string, account string) error {
	list := "none"
	if len(allowed) > 0 {
		list = strings.Join(allowed, ", ")
	}
	return NewError(AccountNotAllowed, nil,
		"account %s is not one of this engine's member accounts (%s: %s); add it to the engine's member accounts (and deploy infra/modules/member-account there) or omit accountId to rotate a user of the engine's own account. Nothing was called",
		account, EnvMemberAccounts, list)
}

func (m *Members) steps(ctx context.Context, hub *Steps, account, executionID string) (*Steps, error) {
	partition := PartitionOf(executionID)
	cfg, creds, err := m.config(ctx, account, partition, SessionName(executionID))
	if err != nil {
		return nil, err
	}
	role := TargetRoleARN(partition, account)
	member := m.New(cfg)
	member.Config = hub.Config
	member.Config.KMSKeyID = MemberKMSKeyAlias
	member.Executions = hub.Executions // Step Functions stays in the hub
	member.Logger = hub.Logger
	member.Now = hub.Now
	member.Members = nil
	member.session = creds
	member.role, member.account = role, account
	return member, nil
}

// Config is the hub's configuration acting in account through its keyrotor-target role, in a
// session named session (cached per account and session name). Callers other than the steps
// (the trigger's destroy) use it; an account not among the member accounts is
// AccountNotAllowed and a refused AssumeRole AssumeRoleDenied.
func (m *Members) Config(ctx context.Context, account, partition, session string) (aws.Config, error) {
	if !slices.Contains(m.allowed(), account) {
		return aws.Config{}, AccountNotAllowedError(m.allowed(), account)
	}
	cfg, _, err := m.config(ctx, account, partition, session)
	return cfg, err
}

func (m *Members) config(ctx context.Context, account, partition, session string) (aws.Config, *aws.CredentialsCache, error) {
	creds := m.credentials(account, partition, session)
	// Retrieved here, once per step (cached across steps of the execution), so that a refused
	// AssumeRole is named as such instead of as the first IAM or SSM call that needed it.
	if _, err := creds.Retrieve(ctx); err != nil {
		return aws.Config{}, nil, classifyAssumeRole(err, TargetRoleARN(partition, account), account)
	}
	cfg := m.Base.Copy()
	cfg.Credentials = creds
	return cfg, creds, nil
}

// credentials returns the cached role session of (account, session name).
func (m *Members) credentials(account, partition, session string) *aws.CredentialsCache {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := sessionKey{account, session}
	if c, ok := m.cache[key]; ok {
		return c
	}
	if m.cache == nil || len(m.cache) >= maxSessions {
		m.cache = map[sessionKey]*aws.CredentialsCache{}
	}
	provider := stscreds.NewAssumeRoleProvider(m.STS, TargetRoleARN(partition, account),
		func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = session
			if m.ExternalID != "" {
				o.ExternalID = aws.String(m.ExternalID)
			}
			if m.Duration > 0 {
				o.Duration = m.Duration
			}
			if m.Function != "" {
				// Not transitive: a session of the member role assumes no further role.
				o.Tags = []ststypes.Tag{{Key: aws.String(FunctionTagKey), Value: aws.String(m.Function)}}
			}
		})
	c := aws.NewCredentialsCache(provider)
	m.cache[key] = c
	return c
}

// sessionNameUnsafe are the characters AssumeRole's RoleSessionName does not take: it is
// 2-64 of [\w+=,.@-] (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html).
var sessionNameUnsafe = regexp.MustCompile(`[^\w+=,.@-]`)

// SessionName is the RoleSessionName of executionID's sessions: the execution's name (the
// last part of its ARN), other characters replaced by '-', cut to 64. The member account's
// CloudTrail thus names the execution that acted.
func SessionName(executionID string) string {
	name := executionID
	if i := strings.LastIndex(name, ":"); i >= 0 {
		name = name[i+1:]
	}
	name = sessionNameUnsafe.ReplaceAllString(name, "-")
	if len(name) > 64 {
		name = name[:64]
	}
	for len(name) < 2 {
		name += "-"
	}
	return name
}

// PartitionOf is the partition of an ARN (an execution's, a state machine's; aws when it is
// not one).
func PartitionOf(resourceARN string) string {
	if a, err := arn.Parse(resourceARN); err == nil && a.Partition != "" {
		return a.Partition
	}
	return "aws"
}

// classifyAssumeRole names a failed sts:AssumeRole of role: refused → AssumeRoleDenied (retried
// a bounded while by the state machine; the message says what to check), throttled or unanswered → Throttled or
// ServiceUnavailable as any AWS call (retried by the state machine).
func classifyAssumeRole(err error, role, account string) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "RegionDisabledException":
			return NewError(AssumeRoleDenied, err,
				"the engine may not assume %s in member account %s: deploy infra/modules/member-account there with this engine's function roles trusted and its external id (%s), and grant the function sts:AssumeRole on that role (the engine's member accounts)",
				role, account, EnvTargetExternalID)
		}
	}
	return Classify(err, "assume "+role+" in member account "+account)
}

// hubCall reports whether err is of a call the member Steps make with the hub function's own
// credentials: Step Functions (Executions), never the member session.
func hubCall(err error) bool {
	var opErr *smithy.OperationError
	return errors.As(err, &opErr) && opErr.ServiceID == "SFN"
}

// expiredSession turns a failure caused by an expired or no longer valid member session
// (ExpiredToken, ExpiredTokenException, InvalidClientTokenId: AWS's common errors,
// https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html) into a retried
// ServiceUnavailable and drops the cached session, so the retry assumes the role anew. Named
// errors (a new key STS refuses in Verify is KeyNotYetValid) are kept.
func (s *Steps) expiredSession(err error) error {
	if err == nil || s.session == nil {
		return err
	}
	var named *Error
	if errors.As(err, &named) && named.Name == AccessDenied && !hubCall(err) {
		// A member call was refused: the grant is missing from the member's role, not from the
		// function's, or has not propagated yet.
		return &Error{Name: MemberAccessDenied, Err: named.Err, Message: strings.ReplaceAll(named.Message, "this function's role",
			"the "+TargetRoleName+" role of account "+s.account+" (infra/modules/member-account); a grant just added is retried for about a minute while IAM propagates it")}
	}
	if ErrorName(err) != UnexpectedError || !hasCode(err, "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId") {
		return err
	}
	s.session.Invalidate()
	return NewError(ServiceUnavailable, err, "the session of %s in member account %s is no longer valid; it is assumed again on retry", s.role, s.account)
}
