package deployed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// Functions are the engine's Lambdas, by directory name under functions/: the rotation steps'
// (rotation.Functions), then Terraform's entry and the fleet's listing. The engine module
// deploys each as "<name>-<function>" with a role of the same name and a policy rendered from
// infra/modules/engine/policies/<function>.json.tftpl. The one list: layout tests refuse another.
var Functions = func() []string {
	var names []string
	for _, f := range rotation.Functions() {
		names = append(names, f.Name)
	}
	return append(names, rotation.TriggerFunction, rotation.ListUsersFunction)
}()

// Engine describes one deployment of the engine module; its methods name resources exactly as
// infra/modules/engine does.
type Engine struct {
	Root string // repository root (holds infra/); see FindRoot
	Name string // the module's name variable, e.g. "keyrotor"
	// Account is the engine's own: its managed users, parameters and secrets key.
	Account
	// MemberAccountIDs are the accounts whose keyrotor-target role the functions may assume
	// (the engine module's member_account_ids).
	MemberAccountIDs []string
}

// PolicyDir is the engine module's policy template directory.
func (e Engine) PolicyDir() string {
	return filepath.Join(e.Root, "infra", "modules", "engine", "policies")
}

// FunctionName is the deployed Lambda name of fn.
func (e Engine) FunctionName(fn string) string { return e.Name + "-" + fn }

// RoleARN is the execution role of fn.
func (e Engine) RoleARN(fn string) string {
	return fmt.Sprintf("arn:%s:iam::%s:role/%s-%s", e.Partition, e.AccountID, e.Name, fn)
}

// FunctionARN is the ARN of fn.
func (e Engine) FunctionARN(fn string) string {
	return fmt.Sprintf("arn:%s:lambda:%s:%s:function:%s", e.Partition, e.Region, e.AccountID, e.FunctionName(fn))
}

// LogGroupARN is fn's log group (without the trailing ":*").
func (e Engine) LogGroupARN(fn string) string {
	return fmt.Sprintf("arn:%s:logs:%s:%s:log-group:/aws/lambda/%s", e.Partition, e.Region, e.AccountID, e.FunctionName(fn))
}

// StateMachineName is the rotation state machine's name.
func (e Engine) StateMachineName() string { return stateMachineName(e.Name) }

// stateMachineName is the rotation state machine's name in the engine named engineName.
func stateMachineName(engineName string) string { return engineName + "-rotate" }

// StateMachineARN is the rotation state machine's ARN.
func (e Engine) StateMachineARN() string {
	return fmt.Sprintf("arn:%s:states:%s:%s:stateMachine:%s", e.Partition, e.Region, e.AccountID, e.StateMachineName())
}

// ExecutionARN is the ARN of an execution of the rotation state machine.
func (e Engine) ExecutionARN(name string) string {
	return fmt.Sprintf("arn:%s:states:%s:%s:execution:%s:%s", e.Partition, e.Region, e.AccountID, e.StateMachineName(), name)
}

// FunctionPolicyVars are the variables the engine module passes to every function policy
// template (locals.function_policy_vars merged with the function's log_group_arn).
func (e Engine) FunctionPolicyVars(fn string) Vars {
	return e.policyVars(Vars{
		"user_path":        e.UserPath,
		"kms_key_arn":      e.KMSKeyARN(),
		"log_group_arn":    e.LogGroupARN(fn),
		"fleet_bucket_arn": e.FleetBucketARN(),
	})
}

// policyVars are the variables the function policies and the secrets key policy share, as the
// module's local.policy_vars.
func (e Engine) policyVars(more Vars) Vars { return e.Account.policyVars(e.Name, more) }

// FleetBucket is the engine's fleet bucket (infra/modules/engine/fleet.tf): the fleet's users
// object and its Distributed Map's report. S3 bucket names are lowercase, as the module's lower().
func (e Engine) FleetBucket() string {
	return fmt.Sprintf("%s-fleet-%s-%s", strings.ToLower(e.Name), e.AccountID, e.Region)
}

// FleetBucketARN is the fleet bucket's ARN.
func (e Engine) FleetBucketARN() string {
	return fmt.Sprintf("arn:%s:s3:::%s", e.Partition, e.FleetBucket())
}

// FleetStateMachineName is the fleet state machine's name.
func (e Engine) FleetStateMachineName() string { return e.Name + "-rotate-fleet" }

// FleetStateMachineARN is the fleet state machine's ARN.
func (e Engine) FleetStateMachineARN() string {
	return fmt.Sprintf("arn:%s:states:%s:%s:stateMachine:%s", e.Partition, e.Region, e.AccountID, e.FleetStateMachineName())
}

// FleetPolicyVars are the variables of the fleet state machine's role policy template
// (policies/fleet.json.tftpl).
func (e Engine) FleetPolicyVars() Vars {
	return Vars{
		"partition":                e.Partition,
		"region":                   e.Region,
		"account_id":               e.AccountID,
		"list_users_function_arn":  e.FunctionARN("listusers"),
		"state_machine_name":       e.StateMachineName(),
		"fleet_state_machine_name": e.FleetStateMachineName(),
		"fleet_bucket_arn":         e.FleetBucketARN(),
	}
}

// FleetPolicy renders the fleet state machine's role policy: invoke listusers, run its
// Distributed Map's child executions, read the users and write the report in the fleet bucket,
// run the rotation state machine as .sync child executions.
func (e Engine) FleetPolicy() (Document, error) {
	return RenderDocument(filepath.Join(e.PolicyDir(), "fleet.json.tftpl"), e.FleetPolicyVars())
}

// SecretsKeyPolicyVars are the variables of the secrets key policy template.
func (e Engine) SecretsKeyPolicyVars() Vars {
	readers, parameterARNs := e.readerGrants()
	return e.policyVars(Vars{
		"hub_account_id":        e.AccountID,
		"session_tags":          false,
		"createkey_role_arn":    e.RoleARN("createkey"),
		"storeparam_role_arn":   e.RoleARN("storeparam"),
		"verifykey_role_arn":    e.RoleARN("verifykey"),
		"reader_arns":           readers,
		"reader_parameter_arns": parameterARNs,
	})
}

// FunctionPolicy renders fn's execution role policy.
func (e Engine) FunctionPolicy(fn string) (Document, error) {
	return RenderDocument(filepath.Join(e.PolicyDir(), fn+".json.tftpl"), e.FunctionPolicyVars(fn))
}

// SecretsKeyPolicy renders the key policy of the KMS key that seals secrets and encrypts the
// SecureString parameters.
func (e Engine) SecretsKeyPolicy() (Document, error) {
	return RenderDocument(RotationKeyTemplate(e.Root), e.SecretsKeyPolicyVars())
}

// RotationKeyTemplate is the key policy template of the KMS key that seals new secrets and
// encrypts the parameters, which the engine's secrets key and each member's key share
// (infra/policies).
func RotationKeyTemplate(root string) string {
	return filepath.Join(root, "infra", "policies", "rotation-key.json.tftpl")
}

// FindRoot walks up from dir ("" is the working directory, as for filepath.Abs) to the
// repository root: the directory holding go.mod and infra/modules/engine.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find keyrotor root: %w", err)
	}
	for {
		if isRoot(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find keyrotor root: no parent directory holds go.mod and infra/modules/engine; run from inside the keyrotor checkout")
		}
		dir = parent
	}
}

func isRoot(dir string) bool {
	for _, p := range []string{"go.mod", filepath.Join("infra", "modules", "engine")} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return false
		}
	}
	return true
}
