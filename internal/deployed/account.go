package deployed

import (
	"maps"
	"slices"
)

// Account is what the engine module and each member-account module alike keep in their
// account: managed users under UserPath, parameters under ParameterPrefix encrypted with the
// KMS key KMSKeyID, and the consumer roles whose key policy grants come from Readers.
type Account struct {
	Partition       string // e.g. "aws"
	Region          string // e.g. "us-east-1"; a member's is the engine's
	AccountID       string // 12 digits
	ParameterPrefix string // e.g. "/keyrotor/"
	UserPath        string // managed users' IAM path, e.g. "/"
	KMSKeyID        string // the key that seals new secrets and encrypts the parameters
	// Readers maps each consumer role of the account to the parameter names it may decrypt
	// (the module's parameter_readers).
	Readers map[string][]string
}

// KMSKeyARN is the account's secrets key's ARN.
func (a Account) KMSKeyARN() string {
	return KMSKeyARN(a.Partition, a.Region, a.AccountID, a.KMSKeyID)
}

// ParameterARN is the ARN of the account's SSM parameter name (which starts with "/").
func (a Account) ParameterARN(name string) string {
	return ParameterARN(a.Partition, a.Region, a.AccountID, name)
}

// UserARN is the ARN of a managed user of the account under UserPath.
func (a Account) UserARN(name string) string {
	return UserARN(a.Partition, a.AccountID, a.UserPath, name)
}

// policyVars are the variables the engine's and a member's policies share (the modules'
// local.policy_vars), with more added: the account, its parameter prefix and the rotation
// state machine of the engine engineName.
func (a Account) policyVars(engineName string, more Vars) Vars {
	v := Vars{
		"partition":          a.Partition,
		"region":             a.Region,
		"account_id":         a.AccountID,
		"parameter_prefix":   a.ParameterPrefix,
		"state_machine_name": stateMachineName(engineName),
	}
	maps.Copy(v, more)
	return v
}

// readerGrants flattens Readers as the modules' inputs do: one (reader role, parameter ARN)
// pair per parameter, the roles in sorted order (Terraform's map order), each role's names as
// listed.
func (a Account) readerGrants() (roles, parameterARNs []string) {
	roles, parameterARNs = []string{}, []string{}
	for _, r := range slices.Sorted(maps.Keys(a.Readers)) {
		for _, name := range a.Readers[r] {
			roles, parameterARNs = append(roles, r), append(parameterARNs, a.ParameterARN(name))
		}
	}
	return roles, parameterARNs
}
