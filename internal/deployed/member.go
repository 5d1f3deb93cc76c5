package deployed

import (
	"maps"
	"path/filepath"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// The names every member account shares (the keyrotor-target role, its path, the member key's
// alias) are keyrotor's vocabulary, internal/rotation's; infra/modules/member-account creates them.

// AssumeTargetPolicyVars are the variables of the engine's policies/assume-target.json.tftpl:
// the function roles' sts:AssumeRole on each member account's target role.
func (e Engine) AssumeTargetPolicyVars() Vars {
	return Vars{"partition": e.Partition, "member_account_ids": e.MemberAccountIDs}
}

// AssumeTargetPolicy renders the policy the engine attaches to every function role when
// member_account_ids is not empty.
func (e Engine) AssumeTargetPolicy() (Document, error) {
	return RenderDocument(filepath.Join(e.PolicyDir(), "assume-target.json.tftpl"), e.AssumeTargetPolicyVars())
}

// Member describes one deployment of infra/modules/member-account; its methods name resources
// exactly as the module does.
type Member struct {
	Root         string // repository root (holds infra/)
	HubAccountID string // the engine's account
	EngineName   string // the engine's name variable
	ExternalID   string
	// Account is the member account: its managed users, parameters and member key.
	Account
}

// PolicyDir is the member-account module's policy template directory.
func (m Member) PolicyDir() string {
	return filepath.Join(m.Root, "infra", "modules", "member-account", "policies")
}

// TargetRoleARN is this member's keyrotor-target role.
func (m Member) TargetRoleARN() string { return rotation.TargetRoleARN(m.Partition, m.AccountID) }

// TrustPolicyVars are the variables of policies/trust.json.tftpl.
func (m Member) TrustPolicyVars() Vars {
	return Vars{
		"partition":      m.Partition,
		"hub_account_id": m.HubAccountID,
		"engine_name":    m.EngineName,
		"hub_functions":  Functions,
		"external_id":    m.ExternalID,
	}
}

// policyVars are the variables the target policy and the member key policy share, as the
// module's local.policy_vars.
func (m Member) policyVars(more Vars) Vars {
	v := Vars{"hub_account_id": m.HubAccountID}
	maps.Copy(v, more)
	return m.Account.policyVars(m.EngineName, v)
}

// TargetPolicyVars are the variables of policies/target.json.tftpl.
func (m Member) TargetPolicyVars() Vars {
	return m.policyVars(Vars{"user_path": m.UserPath, "kms_key_arn": m.KMSKeyARN()})
}

// KeyPolicyVars are the variables of the member key's policy (RotationKeyTemplate).
func (m Member) KeyPolicyVars() Vars {
	readers, parameterARNs := m.readerGrants()
	role := m.TargetRoleARN() // every step's principal, its sessions told apart by their tag
	return m.policyVars(Vars{"createkey_role_arn": role, "storeparam_role_arn": role, "verifykey_role_arn": role,
		"session_tags": true, "reader_arns": readers, "reader_parameter_arns": parameterARNs})
}

// TrustPolicy renders the target role's trust policy.
func (m Member) TrustPolicy() (Document, error) {
	return RenderDocument(filepath.Join(m.PolicyDir(), "trust.json.tftpl"), m.TrustPolicyVars())
}

// TargetPolicy renders the target role's policy.
func (m Member) TargetPolicy() (Document, error) {
	return RenderDocument(filepath.Join(m.PolicyDir(), "target.json.tftpl"), m.TargetPolicyVars())
}

// KeyPolicy renders the member key's policy.
func (m Member) KeyPolicy() (Document, error) {
	return RenderDocument(RotationKeyTemplate(m.Root), m.KeyPolicyVars())
}
