package infracheck

// The organization (issue 15): the member-account module, the engine's member accounts and the
// example with a hub and two members.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

func TestOrganizationVariableValidationsAcceptGoodAndRejectBadValues(t *testing.T) {
	_, mods := load(t)
	str := cty.StringVal
	ids := func(v ...string) cty.Value {
		if len(v) == 0 {
			return cty.ListValEmpty(cty.String)
		}
		vals := make([]cty.Value, len(v))
		for i, s := range v {
			vals[i] = str(s)
		}
		return cty.ListVal(vals)
	}
	null := cty.NullVal(cty.String)
	many := func(n int) cty.Value {
		var v []string
		for i := range n {
			v = append(v, fmt.Sprintf("%012d", 100000000000+i))
		}
		return ids(v...)
	}
	tests := []validationCase{
		{engineDir, "member_account_ids", ids(), true},
		{engineDir, "member_account_ids", ids("444455556666", "777788889999"), true},
		{engineDir, "member_account_ids", ids("44445555666"), false},
		{engineDir, "member_account_ids", ids("4444555566667"), false},
		{engineDir, "member_account_ids", ids("444455556666", "444455556666"), false},
		{engineDir, "member_account_ids", ids("*"), false},
		{engineDir, "member_account_ids", many(100), true},
		{engineDir, "member_account_ids", many(101), false},
		{inputsDir, "external_id", null, true},
		{inputsDir, "external_id", str("keyrotor-org-7f3a9c"), true},
		{inputsDir, "external_id", str("urn:org/keyrotor=1,a.b@c_d+e"), true},
		{inputsDir, "external_id", str(strings.Repeat("x", 1224)), true},
		{inputsDir, "external_id", str("x"), false},
		{inputsDir, "external_id", str(strings.Repeat("x", 1225)), false},
		{inputsDir, "external_id", str("has space"), false},
		{inputsDir, "external_id", str(`quote"d`), false},
		{memberDir, "hub_account_id", str("111122223333"), true},
		{memberDir, "hub_account_id", str("arn:aws:iam::111122223333:root"), false},
		{memberDir, "engine_name", str("keyrotor"), true},
		{memberDir, "engine_name", str("9lives"), false},
		{inputsDir, "external_id", str("keyrotor-org-7f3a9c"), true},
		{inputsDir, "external_id", str("a"), false},
		{inputsDir, "external_id", str("no spaces please"), false},
		{inputsDir, "parameter_prefix", str("/keyrotor/"), true},
		{inputsDir, "parameter_prefix", str("/keyrotor"), false},
		{inputsDir, "managed_user_path", str("/"), true},
		{inputsDir, "managed_user_path", str("keyrotor"), false},
		{inputsDir, "parameter_readers", cty.MapVal(map[string]cty.Value{"arn:aws:iam::444455556666:role/consumer": cty.ListVal([]cty.Value{str("/keyrotor/s3-signer")})}), true},
		{inputsDir, "parameter_readers", cty.MapVal(map[string]cty.Value{"arn:aws:iam::444455556666:user/bob": cty.ListVal([]cty.Value{str("/keyrotor/s3-signer")})}), false},
		{inputsDir, "kms_deletion_window_days", cty.NumberIntVal(31), false},
		{managedKeyDir, "account_id", null, true},
		{managedKeyDir, "account_id", str("444455556666"), true},
		{managedKeyDir, "account_id", str("member-a"), false},
	}
	checkValidations(t, mods, tests)
}

// The settings the engine and a member take alike are validated once, by infra/modules/inputs:
// both pass each of them to it unchanged, declared with its type, so that a value one accepts
// the other accepts too.
func TestEngineAndMemberValidateTheirSharedInputsInOnePlace(t *testing.T) {
	_, mods := load(t)
	inputs := mods[inputsDir]
	for _, tt := range []struct {
		dir string
		own map[string]string // the module's own names of the shared settings
	}{
		{engineDir, map[string]string{"external_id": "member_external_id", "engine_name": "name"}},
		{memberDir, map[string]string{}},
	} {
		m := mods[tt.dir]
		call := onlyBlock(t, m, "module", "inputs")
		if got := attr(m, call, "source"); got != `"../inputs"` {
			t.Errorf("%s: module.inputs has source %s, want \"../inputs\"", tt.dir, got)
		}
		for _, name := range []string{"engine_name", "parameter_prefix", "managed_user_path", "parameter_readers", "kms_deletion_window_days", "external_id"} {
			own := name
			if o, ok := tt.own[name]; ok {
				own = o
			}
			if got := attr(m, call, name); got != "var."+own {
				t.Errorf("%s: module.inputs gets %s = %s, want var.%s", tt.dir, name, got, own)
			}
			if mt, it := attr(m, onlyBlock(t, m, "variable", own), "type"), attr(inputs, onlyBlock(t, inputs, "variable", name), "type"); mt != it {
				t.Errorf("%s: variable %s has type %s, infra/modules/inputs declares %s", tt.dir, own, mt, it)
			}
		}
	}
}

// The names the engine's functions use (internal/rotation: TargetRoleName, TargetRolePath,
// MemberKMSKeyAlias) are the ones the module creates, and it trusts every function the engine
// deploys.
func TestMemberModuleCreatesTheRoleAndKeyTheFunctionsName(t *testing.T) {
	_, mods := load(t)
	m := mods[memberDir]
	local := func(name string) string {
		e, ok := m.Local(name)
		if !ok {
			t.Fatalf("member-account has no local.%s", name)
		}
		return m.Text(e.Range())
	}
	if got := local("target_role_name"); got != `"`+rotation.TargetRoleName+`"` {
		t.Errorf("local.target_role_name = %s, want %q", got, rotation.TargetRoleName)
	}
	if got := local("target_role_path"); got != `"`+rotation.TargetRolePath+`"` {
		t.Errorf("local.target_role_path = %s, want %q", got, rotation.TargetRolePath)
	}
	role := onlyBlock(t, m, "resource", "aws_iam_role", "target")
	if attr(m, role, "name") != "local.target_role_name" || attr(m, role, "path") != "local.target_role_path" {
		t.Errorf("aws_iam_role.target must be named local.target_role_name under local.target_role_path")
	}
	alias := onlyBlock(t, m, "resource", "aws_kms_alias", "member")
	if got := attr(m, alias, "name"); got != `"`+rotation.MemberKMSKeyAlias+`"` {
		t.Errorf("aws_kms_alias.member name = %s, want %q", got, rotation.MemberKMSKeyAlias)
	}
	key := onlyBlock(t, m, "resource", "aws_kms_key", "member")
	if attr(m, key, "enable_key_rotation") != "true" {
		t.Error("aws_kms_key.member must enable key rotation")
	}
	want := `["` + strings.Join(deployed.Functions, `", "`) + `"]`
	if got := local("hub_functions"); got != want {
		t.Errorf("local.hub_functions = %s, want every function the engine deploys: %s", got, want)
	}
}

// The engine's functions may assume member roles, and learn the accounts and the external id,
// only when member_account_ids lists some.
func TestEngineAssumesMemberRolesOnlyWhenAccountsAreListed(t *testing.T) {
	_, mods := load(t)
	m := mods[engineDir]
	roles, ok := m.Local("assume_target_roles")
	if !ok || m.Text(roles.Range()) != "length(var.member_account_ids) == 0 ? {} : local.functions" {
		t.Errorf("local.assume_target_roles must be length(var.member_account_ids) == 0 ? {} : local.functions")
	}
	p := onlyBlock(t, m, "resource", "aws_iam_role_policy", "assume_target")
	if attr(m, p, "for_each") != "local.assume_target_roles" || attr(m, p, "role") != "aws_iam_role.function[each.key].id" {
		t.Errorf("aws_iam_role_policy.assume_target must attach to each function role over local.assume_target_roles")
	}
	env, ok := m.Local("member_environment")
	if !ok {
		t.Fatal("engine has no local.member_environment")
	}
	cond, ok := env.(*hclsyntax.ConditionalExpr)
	if !ok || m.Text(cond.Condition.Range()) != "length(var.member_account_ids) == 0" {
		t.Fatalf("local.member_environment must be empty unless member_account_ids lists accounts")
	}
	keys, err := m.ObjectKeys(cond.FalseResult)
	if err != nil {
		t.Fatal(err)
	}
	// internal/rotation: EnvMemberAccounts, EnvTargetExternalID.
	if want := []string{"KEYROTOR_MEMBER_ACCOUNTS", "KEYROTOR_TARGET_EXTERNAL_ID"}; !slices.Equal(keys, want) {
		t.Errorf("member environment %v, want %v", keys, want)
	}
	fn := onlyBlock(t, m, "resource", "aws_lambda_function", "function")
	if vars := attr(m, child(fn, "environment"), "variables"); !strings.Contains(vars, "local.member_environment") {
		t.Errorf("every function's environment must merge local.member_environment, got %s", vars)
	}
}

// The example: the hub holds no member's user. Each member is one call of the local module
// member, with the hub's provider as aws and the member's as aws.member; inside it the
// member-account module, the user and the consumer role use aws.member, and the managed key
// (the hub's apply-time rotation and schedule) rotates the member's user without creating it.
func TestOrganizationExampleKeepsEachMembersUserInTheMember(t *testing.T) {
	_, mods := load(t)
	m := mods[orgExampleDir]
	members := 0
	for _, call := range m.Find("module") {
		switch src := attr(m, call, "source"); src {
		case `"./member"`:
			members++
			if p := attr(m, call, "providers"); !strings.HasPrefix(p, "{ aws = aws, aws.member = aws.member_") {
				t.Errorf("module %s must pass the hub's provider as aws and a member's as aws.member, got %q", call.Labels[0], p)
			}
			if got, want := attr(m, call, "member"), "local.members."+call.Labels[0]; got != want {
				t.Errorf("module %s must get its member as %s, got %q", call.Labels[0], want, got)
			}
		case `"../../modules/engine"`:
			if got := attr(m, call, "member_account_ids"); got != "values(var.member_account_ids)" {
				t.Errorf("the engine lists member accounts %s", got)
			}
		default:
			t.Errorf("module %s (%s): the example calls the engine and ./member only", call.Labels[0], src)
		}
	}
	if members != 2 {
		t.Errorf("the example deploys %d members, want 2", members)
	}
	if r := m.Find("resource"); len(r) != 0 {
		t.Errorf("the example itself creates %d resources in the hub; members' resources belong in ./member", len(r))
	}

	member := mods[orgExampleDir+"/member"]
	if member == nil {
		t.Fatalf("module %s/member not found", orgExampleDir)
	}
	for _, r := range member.Find("resource") {
		if p := attr(member, r, "provider"); p != "aws.member" {
			t.Errorf("%s.%s is created with provider %q, want the member's (aws.member)", r.Labels[0], r.Labels[1], p)
		}
	}
	account := onlyBlock(t, member, "module", "account")
	if attr(member, account, "source") != `"../../../modules/member-account"` || attr(member, account, "providers") != "{ aws = aws.member }" {
		t.Errorf("module account must be modules/member-account with the member's provider")
	}
	key := onlyBlock(t, member, "module", "key")
	if attr(member, key, "source") != `"../../../modules/managed-key"` || attr(member, key, "providers") != "" ||
		attr(member, key, "create_user") != "false" || attr(member, key, "account_id") != "var.member.account_id" {
		t.Errorf("module key must be modules/managed-key with the hub's provider rotating the member's user: create_user = false, account_id = var.member.account_id")
	}
}

// managed-key with account_id: the user is the member's, so the module neither creates it (its
// provider is the hub's) nor reads it from the hub, and the rotation carries accountId.
func TestManagedKeyForAMemberUserNeitherCreatesNorReadsItInTheHub(t *testing.T) {
	_, mods := load(t)
	m := mods[managedKeyDir]
	eval := func(e hclsyntax.Expression, accountID cty.Value, createUser bool) cty.Value {
		t.Helper()
		ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{
			"account_id": accountID, "create_user": cty.BoolVal(createUser),
		})}}
		v, diags := e.Value(ctx)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", m.Text(e.Range()), diags)
		}
		return v
	}
	member, none := cty.StringVal("444455556666"), cty.NullVal(cty.String)

	count := onlyBlock(t, m, "data", "aws_iam_user", "existing").Body.Attributes["count"].Expr
	var refusal hclsyntax.Expression
	for _, lc := range onlyBlock(t, m, "resource", "terraform_data", "checks").Body.Blocks {
		for _, pc := range lc.Body.Blocks {
			if pc.Type == "precondition" && strings.Contains(attr(m, pc, "error_message"), "With account_id") {
				refusal = pc.Body.Attributes["condition"].Expr
			}
		}
	}
	if refusal == nil {
		t.Fatal("terraform_data.checks has no precondition refusing create_user with account_id")
	}
	tests := []struct {
		name        string
		accountID   cty.Value
		createUser  bool
		reads, okay bool
	}{
		{"engine account, created user", none, true, false, true},
		{"engine account, existing user", none, false, true, true},
		{"member user", member, false, false, true},
		{"member user created in the hub", member, true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, _ := eval(count, tt.accountID, tt.createUser).AsBigFloat().Int64()
			if reads := n == 1; reads != tt.reads {
				t.Errorf("data.aws_iam_user.existing count %d, want reading = %v", n, tt.reads)
			}
			if okay := eval(refusal, tt.accountID, tt.createUser).True(); okay != tt.okay {
				t.Errorf("precondition passes = %v, want %v", okay, tt.okay)
			}
		})
	}
}

// Only a fleet over organizationalUnitId needs organizations:ListAccountsForParent, and only
// listusers makes it: the grant exists when member_organizational_units is set, on listusers'
// role alone, and allows that one action.
func TestEngineListsOrganizationUnitsOnlyWhenAskedTo(t *testing.T) {
	root, mods := load(t)
	m := mods[engineDir]
	p := onlyBlock(t, m, "resource", "aws_iam_role_policy", "list_organization")
	if attr(m, p, "count") != "var.member_organizational_units ? 1 : 0" || attr(m, p, "role") != `aws_iam_role.function["listusers"].id` {
		t.Errorf("aws_iam_role_policy.list_organization must attach to listusers' role only when member_organizational_units is set")
	}
	doc, err := os.ReadFile(filepath.Join(root, engineDir, "policies", "list-organization.json.tftpl"))
	if err != nil {
		t.Fatal(err)
	}
	var policy struct {
		Statement []struct{ Effect, Action string }
	}
	if err := json.Unmarshal(doc, &policy); err != nil {
		t.Fatal(err)
	}
	if len(policy.Statement) != 1 || policy.Statement[0].Effect != "Allow" || policy.Statement[0].Action != "organizations:ListAccountsForParent" {
		t.Errorf("list-organization policy %s: want one Allow of organizations:ListAccountsForParent", doc)
	}
}
