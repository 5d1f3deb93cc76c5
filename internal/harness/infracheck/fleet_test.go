package infracheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/schedule"
)

const fleetASL = "statemachine/rotate-fleet.asl.json"

// attr returns the source text of a block's attribute ("" when absent).
func attr(m *Module, b *hclsyntax.Block, name string) string {
	a, ok := b.Body.Attributes[name]
	if !ok {
		return ""
	}
	return m.Text(a.Expr.Range())
}

// onlyBlock returns the module's one block of typ with labels, failing the test when it declares
// none or several.
func onlyBlock(t *testing.T, m *Module, typ string, labels ...string) *hclsyntax.Block {
	t.Helper()
	found := m.Find(typ, labels...)
	if len(found) != 1 {
		t.Fatalf("%s declares %d %s %s, want 1", filepath.Base(m.Dir), len(found), typ, strings.Join(labels, "."))
	}
	return found[0]
}

// stateMachine returns the engine's state machine resource, one instance per key of
// local.state_machines, and the definition of instance key: the item key of
// local.state_machine_definitions, which the resource reads by each.key.
func stateMachine(t *testing.T, m *Module, key string) (*hclsyntax.Block, hclsyntax.Expression) {
	t.Helper()
	sm := onlyBlock(t, m, "resource", "aws_sfn_state_machine", "state_machine")
	if got := attr(m, sm, "for_each"); got != "local.state_machines" {
		t.Fatalf("aws_sfn_state_machine.state_machine.for_each = %s, want local.state_machines", got)
	}
	if got := attr(m, sm, "definition"); got != "local.state_machine_definitions[each.key]" {
		t.Fatalf("aws_sfn_state_machine.state_machine.definition = %s, want local.state_machine_definitions[each.key]", got)
	}
	defs, ok := m.Local("state_machine_definitions")
	if !ok {
		t.Fatal("engine has no local.state_machine_definitions")
	}
	def := item(defs, key)
	if def == nil {
		t.Fatalf("local.state_machine_definitions has no %s", key)
	}
	return sm, def
}

// checkDefinition checks that state machine name's definition is templatefile(...) of asl
// (below root) setting exactly vars, the placeholders docs/steps.md pins.
func checkDefinition(t *testing.T, root string, m *Module, name string, definition hclsyntax.Expression, asl string, vars []string) {
	t.Helper()
	def, ok := definition.(*hclsyntax.FunctionCallExpr)
	if !ok || def.Name != "templatefile" {
		t.Fatalf("%s's definition must be templatefile(...) of %s", name, asl)
	}
	calls, err := m.templateCalls(def, nil)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Clean(calls[0].Path) != filepath.Join(root, asl) {
		t.Errorf("%s's definition renders %s, want %s", name, calls[0].Path, filepath.Join(root, asl))
	}
	if !slices.Equal(calls[0].Vars, vars) {
		t.Errorf("%s's definition sets %v, docs/steps.md pins %v", name, calls[0].Vars, vars)
	}
}

func child(b *hclsyntax.Block, typ string) *hclsyntax.Block {
	for _, c := range b.Body.Blocks {
		if c.Type == typ {
			return c
		}
	}
	return nil
}

func TestFleetStateMachineIsTheFleetASLWithItsOwnRole(t *testing.T) {
	root, mods := load(t)
	m := mods[engineDir]
	sm, def := stateMachine(t, m, "fleet")
	checkDefinition(t, root, m, "the fleet", def, fleetASL, []string{"list_users_function_arn", "rotate_state_machine_arn"})
	for attrName, want := range map[string]string{
		"role_arn": "aws_iam_role.state_machine[each.key].arn",
		"type":     `"STANDARD"`,
	} {
		if got := attr(m, sm, attrName); got != want {
			t.Errorf("aws_sfn_state_machine.state_machine.%s = %s, want %s", attrName, got, want)
		}
	}
	logging := child(sm, "logging_configuration")
	if logging == nil || attr(m, logging, "level") != `"ERROR"` || attr(m, logging, "include_execution_data") != "false" {
		t.Error(`the fleet needs logging_configuration with level "ERROR" and include_execution_data false`)
	}
	// The fleet's role is its own, not the rotation machine's, which may invoke the steps: one
	// role, with its policy, per state machine.
	role := onlyBlock(t, m, "resource", "aws_iam_role", "state_machine")
	if attr(m, role, "for_each") != attr(m, sm, "for_each") {
		t.Error("aws_iam_role.state_machine must have the state machines' for_each: one role each")
	}
	if !hasRolePolicy(m, "state_machine", true) {
		t.Error("aws_iam_role.state_machine has no aws_iam_role_policy")
	}
	outs := m.Find("output", "fleet_state_machine_arn")
	if want := `aws_sfn_state_machine.state_machine["fleet"].arn`; len(outs) != 1 || attr(m, outs[0], "value") != want {
		t.Errorf("the engine must output fleet_state_machine_arn = %s", want)
	}
}

func TestFleetASLRendersToJSONWithItsPlaceholdersOnly(t *testing.T) {
	root, _ := load(t)
	path := filepath.Join(root, fleetASL)
	refs, err := deployed.TemplateVariables(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"list_users_function_arn", "rotate_state_machine_arn"}; !slices.Equal(slices.Sorted(slices.Values(refs)), want) {
		t.Errorf("%s uses %v, docs/steps.md pins %v", fleetASL, refs, want)
	}
	out, err := deployed.RenderFile(path, deployed.Vars{
		"list_users_function_arn":  "arn:aws:lambda:eu-west-1:111122223333:function:keyrotor-listusers",
		"rotate_state_machine_arn": "arn:aws:states:eu-west-1:111122223333:stateMachine:keyrotor-rotate",
	})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%s does not render to JSON: %v", fleetASL, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

func TestFleetScheduleIsOptionalAndStartsTheFleet(t *testing.T) {
	_, mods := load(t)
	m := mods[engineDir]
	s := onlyBlock(t, m, "resource", "aws_scheduler_schedule", "fleet")
	if got := attr(m, s, "count"); got != "var.fleet_schedule == null ? 0 : 1" {
		t.Errorf("the fleet schedule's count is %q: it must exist only when fleet_schedule is set", got)
	}
	vars := m.Find("variable", "fleet_schedule")
	if len(vars) != 1 || attr(m, vars[0], "default") != "null" {
		t.Error("variable fleet_schedule must default to null (no schedule)")
	}
	target := child(s, "target")
	if target == nil {
		t.Fatal("the fleet schedule has no target")
	}
	for a, want := range map[string]string{"arn": `aws_sfn_state_machine.state_machine["fleet"].arn`, "input": "jsonencode(var.fleet_input)", "role_arn": "aws_iam_role.fleet_scheduler[0].arn"} {
		if got := attr(m, target, a); got != want {
			t.Errorf("fleet schedule target.%s = %s, want %s", a, got, want)
		}
	}
	if child(target, "retry_policy") == nil {
		t.Error("the fleet schedule's target has no retry_policy")
	}
}

func accounts(ids ...string) cty.Value {
	vs := make([]cty.Value, len(ids))
	for i, id := range ids {
		vs[i] = cty.StringVal(id)
	}
	return cty.ListVal(vs)
}

func TestFleetVariablesValidate(t *testing.T) {
	_, mods := load(t)
	m := mods[engineDir]
	input := func(kv map[string]cty.Value) cty.Value {
		obj := map[string]cty.Value{
			"maxConcurrency": cty.NullVal(cty.Number), "toleratedFailurePercentage": cty.NullVal(cty.Number),
			"graceSeconds": cty.NullVal(cty.Number), "inactiveSeconds": cty.NullVal(cty.Number), "pathPrefix": cty.NullVal(cty.String),
			"accountIds": cty.NullVal(cty.List(cty.String)), "organizationalUnitId": cty.NullVal(cty.String),
		}
		for k, v := range kv {
			obj[k] = v
		}
		return cty.ObjectVal(obj)
	}
	tests := []struct {
		name     string
		variable string
		value    cty.Value
		valid    bool
	}{
		{"no schedule", "fleet_schedule", cty.NullVal(cty.String), true},
		{"monthly", "fleet_schedule", cty.StringVal("rate(30 days)"), true},
		{"words", "fleet_schedule", cty.StringVal("monthly"), false},
		{"defaults", "fleet_input", input(nil), true},
		{"all set", "fleet_input", input(map[string]cty.Value{"maxConcurrency": cty.NumberIntVal(50), "toleratedFailurePercentage": cty.NumberIntVal(5), "graceSeconds": cty.NumberIntVal(0), "inactiveSeconds": cty.NumberIntVal(0), "pathPrefix": cty.StringVal("/team/")}), true},
		{"concurrency 0", "fleet_input", input(map[string]cty.Value{"maxConcurrency": cty.NumberIntVal(0)}), false},
		{"percentage 101", "fleet_input", input(map[string]cty.Value{"toleratedFailurePercentage": cty.NumberIntVal(101)}), false},
		{"grace too long", "fleet_input", input(map[string]cty.Value{"graceSeconds": cty.NumberIntVal(604801)}), false},
		{"member accounts", "fleet_input", input(map[string]cty.Value{"accountIds": accounts("111111111111", "222222222222")}), true},
		{"no accounts", "fleet_input", input(map[string]cty.Value{"accountIds": cty.ListValEmpty(cty.String)}), true},
		{"short account id", "fleet_input", input(map[string]cty.Value{"accountIds": accounts("11111111111")}), false},
		{"account twice", "fleet_input", input(map[string]cty.Value{"accountIds": accounts("111111111111", "111111111111")}), false},
		{"organizational unit", "fleet_input", input(map[string]cty.Value{"organizationalUnitId": cty.StringVal("ou-ab12-cdef3456")}), true},
		{"root", "fleet_input", input(map[string]cty.Value{"organizationalUnitId": cty.StringVal("r-ab12")}), true},
		{"unit name", "fleet_input", input(map[string]cty.Value{"organizationalUnitId": cty.StringVal("Engineering")}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failed, err := m.Validate(tt.variable, tt.value)
			if err != nil {
				t.Fatal(err)
			}
			if valid := len(failed) == 0; valid != tt.valid {
				t.Fatalf("valid = %v (messages %q), want %v", valid, failed, tt.valid)
			}
		})
	}
	// fleet_schedule accepts what internal/schedule (EventBridge Scheduler's grammar) accepts.
	for _, expr := range []string{"rate(30 days)", "rate(0 days)", "cron(0 3 1 * ? *)", "cron(0 3 * * ?)", "at(2030-01-01T03:00:00)", "every day"} {
		failed, err := m.Validate("fleet_schedule", cty.StringVal(expr))
		if err != nil {
			t.Fatal(err)
		}
		_, parseErr := schedule.Parse(expr, nil)
		if moduleOK, parserOK := len(failed) == 0, parseErr == nil; moduleOK != parserOK {
			t.Errorf("%s: module accepts %v, internal/schedule accepts %v (%v)", expr, moduleOK, parserOK, parseErr)
		}
	}
}

// The module refuses at plan time a fleet_input that listusers would refuse at the fleet's
// first run: accounts that are not members, an OU without member_organizational_units; the
// same values pass listusers' own validation (fleet.Lister.List) exactly when they pass here.
func TestScheduledFleetInputIsCheckedAgainstTheMemberAccounts(t *testing.T) {
	_, mods := load(t)
	m := mods[engineDir]
	sched := onlyBlock(t, m, "resource", "aws_scheduler_schedule", "fleet")
	var conds []*hclsyntax.Attribute
	for _, b := range sched.Body.Blocks {
		if b.Type != "lifecycle" {
			continue
		}
		for _, p := range b.Body.Blocks {
			if p.Type == "precondition" {
				conds = append(conds, p.Body.Attributes["condition"])
			}
		}
	}
	if len(conds) != 2 {
		t.Fatalf("the fleet schedule has %d preconditions, want 2 (accountIds members, organizationalUnitId enabled)", len(conds))
	}
	members := accounts("111111111111", "222222222222")
	tests := []struct {
		name    string
		ids     cty.Value
		ou      cty.Value
		ouOn    bool
		planned bool
	}{
		{"own account", cty.NullVal(cty.List(cty.String)), cty.NullVal(cty.String), false, true},
		{"members", accounts("222222222222"), cty.NullVal(cty.String), false, true},
		{"a stranger", accounts("111111111111", "333333333333"), cty.NullVal(cty.String), false, false},
		{"an OU, enabled", cty.NullVal(cty.List(cty.String)), cty.StringVal("ou-ab12-cdef3456"), true, true},
		{"an OU, not enabled", cty.NullVal(cty.List(cty.String)), cty.StringVal("ou-ab12-cdef3456"), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := &hcl.EvalContext{Functions: validationFunctions, Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{
				"fleet_input":                 cty.ObjectVal(map[string]cty.Value{"accountIds": tt.ids, "organizationalUnitId": tt.ou}),
				"member_account_ids":          members,
				"member_organizational_units": cty.BoolVal(tt.ouOn),
			})}}
			planned := true
			for _, c := range conds {
				v, diags := c.Expr.Value(ctx)
				if diags.HasErrors() {
					t.Fatal(diags)
				}
				planned = planned && v.True()
			}
			if planned != tt.planned {
				t.Errorf("planned = %v, want %v", planned, tt.planned)
			}
		})
	}
}
