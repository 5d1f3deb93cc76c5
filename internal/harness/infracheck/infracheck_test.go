package infracheck

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

const (
	engineDir     = "infra/modules/engine"
	managedKeyDir = "infra/modules/managed-key"
	memberDir     = "infra/modules/member-account"
	inputsDir     = "infra/modules/inputs"
	orgExampleDir = "infra/examples/organization"
	rotationASL   = "statemachine/rotate.asl.json"
)

func load(t *testing.T) (string, map[string]*Module) {
	t.Helper()
	root, err := deployed.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	mods, err := LoadModules(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{engineDir, managedKeyDir, memberDir, "infra/examples/s3-signer", orgExampleDir} {
		if mods[dir] == nil {
			t.Fatalf("module %s not found", dir)
		}
	}
	return root, mods
}

func TestEveryTerraformFileIsFormatted(t *testing.T) {
	root, _ := load(t)
	files, err := TerraformFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(files, filepath.Join(root, "infra", ".tflint.hcl")) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if p := FormatProblem(src); p != "" {
			t.Errorf("%s is not formatted (terraform fmt): %s", f, p)
		}
	}
}

func TestFormatProblemNamesTheFirstBadLine(t *testing.T) {
	tests := []struct{ src, want string }{
		{"a = 1\n", ""},
		{"a=1\n", `line 1 is "a=1", formatted it is "a = 1"`},
		{"x = 1\nlonger = 2\n", `line 1 is "x = 1", formatted it is "x      = 1"`},
	}
	for _, tt := range tests {
		if got := FormatProblem([]byte(tt.src)); got != tt.want {
			t.Errorf("FormatProblem(%q) = %q, want %q", tt.src, got, tt.want)
		}
	}
}

// Terraform state holds every attribute of every resource and data source, so none may hold or
// read a secret: no access key resource, no Terraform-managed parameter, no secret attribute.
func TestNoResourceOrOutputCarriesASecret(t *testing.T) {
	_, mods := load(t)
	forbidden := map[string]string{
		"aws_iam_access_key":                "its secret would be in state; keyrotor creates keys inside AWS",
		"aws_ssm_parameter":                 "a Terraform-managed parameter puts its value in state; keyrotor writes it",
		"aws_secretsmanager_secret_version": "its value would be in state",
	}
	secretName := regexp.MustCompile(`(?i)secret|password|private_key`)
	for dir, m := range mods {
		for _, b := range m.Blocks {
			if (b.Type == "resource" || b.Type == "data") && forbidden[b.Labels[0]] != "" {
				t.Errorf("%s: %s %s.%s: %s", dir, b.Type, b.Labels[0], b.Labels[1], forbidden[b.Labels[0]])
			}
			if b.Type == "output" && secretName.MatchString(b.Labels[0]) {
				t.Errorf("%s: output %q is named like a secret", dir, b.Labels[0])
			}
			_ = hclsyntax.VisitAll(b.Body, func(n hclsyntax.Node) hcl.Diagnostics {
				switch n := n.(type) {
				case *hclsyntax.Attribute:
					if secretName.MatchString(n.Name) {
						t.Errorf("%s: attribute %s at %s is named like a secret", dir, n.Name, n.SrcRange)
					}
				case *hclsyntax.ScopeTraversalExpr:
					for _, step := range readAttributes(n.Traversal) {
						if secretName.MatchString(step) {
							t.Errorf("%s: %s reads .%s", dir, n.Range(), step)
						}
					}
				case *hclsyntax.RelativeTraversalExpr:
					for _, step := range n.Traversal {
						if a, ok := step.(hcl.TraverseAttr); ok && secretName.MatchString(a.Name) {
							t.Errorf("%s: %s reads .%s", dir, n.Range(), a.Name)
						}
					}
				}
				return nil
			})
		}
	}
}

func TestManagedKeyOutputsOnlyIdsFromTheTrigger(t *testing.T) {
	_, mods := load(t)
	m := mods[managedKeyDir]
	var names []string
	for _, o := range m.Find("output") {
		name := o.Labels[0]
		names = append(names, name)
		rel, ok := o.Body.Attributes["value"].Expr.(*hclsyntax.RelativeTraversalExpr)
		if !ok {
			t.Errorf("output %s must be jsondecode(aws_lambda_invocation.rotate.result).%s", name, name)
			continue
		}
		call, ok := rel.Source.(*hclsyntax.FunctionCallExpr)
		key := rel.Traversal[0].(hcl.TraverseAttr).Name
		if !ok || call.Name != "jsondecode" || m.Text(call.Args[0].Range()) != "aws_lambda_invocation.rotate.result" || key != name || len(rel.Traversal) != 1 {
			t.Errorf("output %s = %s, want jsondecode(aws_lambda_invocation.rotate.result).%s", name, m.Text(rel.Range()), name)
		}
	}
	sort.Strings(names)
	if want := []string{"access_key_id", "parameter_arn", "parameter_name"}; !slices.Equal(names, want) {
		t.Errorf("managed-key outputs %v, want exactly %v", names, want)
	}

	inv := m.Find("resource", "aws_lambda_invocation", "rotate")
	if len(inv) != 1 {
		t.Fatal("managed-key must invoke the trigger with aws_lambda_invocation.rotate")
	}
	for attr, want := range map[string]string{"lifecycle_scope": `"CRUD"`, "terraform_key": `"tf"`} {
		a, ok := inv[0].Body.Attributes[attr]
		if !ok || m.Text(a.Expr.Range()) != want {
			t.Errorf("aws_lambda_invocation.rotate.%s must be %s", attr, want)
		}
	}
}

func TestEveryLambdaRunsAsItsOwnRoleWithItsOwnPolicy(t *testing.T) {
	_, mods := load(t)
	roleRef := regexp.MustCompile(`^aws_iam_role\.([a-z_]+)(\[each\.key\])?\.arn$`)
	for dir, m := range mods {
		used := map[string]string{}
		for _, fn := range m.Find("resource", "aws_lambda_function") {
			name := fn.Labels[1]
			role := fn.Body.Attributes["role"]
			if role == nil {
				t.Errorf("%s: aws_lambda_function.%s has no role", dir, name)
				continue
			}
			ref := roleRef.FindStringSubmatch(m.Text(role.Expr.Range()))
			if ref == nil {
				t.Errorf("%s: aws_lambda_function.%s role %s must be a role of this module", dir, name, m.Text(role.Expr.Range()))
				continue
			}
			roles := m.Find("resource", "aws_iam_role", ref[1])
			if len(roles) != 1 {
				t.Errorf("%s: aws_lambda_function.%s uses aws_iam_role.%s, which the module does not declare", dir, name, ref[1])
				continue
			}
			if other, ok := used[ref[1]]; ok {
				t.Errorf("%s: aws_lambda_function.%s and %s share aws_iam_role.%s", dir, name, other, ref[1])
			}
			used[ref[1]] = name
			fnEach, roleEach := fn.Body.Attributes["for_each"], roles[0].Body.Attributes["for_each"]
			switch {
			case fnEach != nil && (ref[2] == "" || roleEach == nil || m.Text(fnEach.Expr.Range()) != m.Text(roleEach.Expr.Range())):
				t.Errorf("%s: each aws_lambda_function.%s needs its own role: aws_iam_role.%s[each.key] with the same for_each", dir, name, ref[1])
			case fnEach == nil && ref[2] != "":
				t.Errorf("%s: aws_lambda_function.%s indexes a role without for_each", dir, name)
			}
			if !hasRolePolicy(m, ref[1], ref[2] != "") {
				t.Errorf("%s: aws_iam_role.%s (of aws_lambda_function.%s) has no aws_iam_role_policy", dir, ref[1], name)
			}
		}
	}
}

func hasRolePolicy(m *Module, role string, each bool) bool {
	want := "aws_iam_role." + role + ".id"
	if each {
		want = "aws_iam_role." + role + "[each.key].id"
	}
	for _, p := range m.Find("resource", "aws_iam_role_policy") {
		if a := p.Body.Attributes["role"]; a != nil && m.Text(a.Expr.Range()) == want {
			return true
		}
	}
	return false
}

func TestEveryFunctionIsDeployedWithAPolicyTemplate(t *testing.T) {
	root, mods := load(t)
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	m := mods[engineDir]
	fns, ok := m.Local("functions")
	if !ok {
		t.Fatal("engine has no local.functions")
	}
	inModule, err := m.ObjectKeys(fns)
	if err != nil {
		t.Fatal(err)
	}
	known := slices.Sorted(slices.Values(deployed.Functions))
	if !slices.Equal(dirs, inModule) || !slices.Equal(dirs, known) {
		t.Fatalf("functions/ holds %v, the engine deploys %v, deployed.Functions lists %v: all three must agree", dirs, inModule, known)
	}
	for _, fn := range dirs {
		if _, err := os.Stat(filepath.Join(root, engineDir, "policies", fn+".json.tftpl")); err != nil {
			t.Errorf("function %s has no policy template: %v", fn, err)
		}
	}
}

func TestStateMachineIsTheRotationASL(t *testing.T) {
	root, mods := load(t)
	m := mods[engineDir]
	sm, def := stateMachine(t, m, "rotate")
	checkDefinition(t, root, m, "the rotation state machine", def, rotationASL,
		[]string{"create_key_function_arn", "delete_old_keys_function_arn", "store_parameter_function_arn", "verify_key_function_arn"})

	logging := sm.Body.Blocks
	found := false
	for _, b := range logging {
		if b.Type != "logging_configuration" {
			continue
		}
		found = true
		for attr, want := range map[string]string{"level": `"ERROR"`, "include_execution_data": "false"} {
			if a := b.Body.Attributes[attr]; a == nil || m.Text(a.Expr.Range()) != want {
				t.Errorf("logging_configuration.%s must be %s", attr, want)
			}
		}
	}
	if !found {
		t.Error("the state machine has no logging_configuration")
	}
}

// templatefile fails at apply time when a template refers to a variable the call does not set;
// without terraform validate this test is what catches it. The engine's function and key policy
// calls must also set exactly what internal/deployed sets, so both render the same documents.
func TestEveryTemplatefileCallSetsWhatItsTemplateUses(t *testing.T) {
	root, mods := load(t)
	e := deployed.Engine{Root: root}
	goVars := map[string][]string{}
	for _, fn := range deployed.Functions {
		goVars[filepath.Join(e.PolicyDir(), fn+".json.tftpl")] = keys(e.FunctionPolicyVars(fn))
	}
	goVars[deployed.RotationKeyTemplate(root)] = keys(e.SecretsKeyPolicyVars())
	goVars[filepath.Join(e.PolicyDir(), "fleet.json.tftpl")] = keys(e.FleetPolicyVars())
	goVars[filepath.Join(e.PolicyDir(), "assume-target.json.tftpl")] = keys(e.AssumeTargetPolicyVars())
	member := deployed.Member{Root: root}
	goVars[filepath.Join(member.PolicyDir(), "trust.json.tftpl")] = keys(member.TrustPolicyVars())
	goVars[filepath.Join(member.PolicyDir(), "target.json.tftpl")] = keys(member.TargetPolicyVars())
	if member := keys(member.KeyPolicyVars()); !slices.Equal(member, goVars[deployed.RotationKeyTemplate(root)]) {
		t.Errorf("internal/deployed sets %v for the member key's policy and %v for the engine's; the template is one", member, goVars[deployed.RotationKeyTemplate(root)])
	}

	used := map[string]bool{}
	for dir, m := range mods {
		calls, err := m.TemplateCalls()
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		for _, c := range calls {
			path := filepath.Clean(c.Path)
			used[path] = true
			if path == filepath.Join(root, rotationASL) {
				if _, err := os.Stat(path); os.IsNotExist(err) {
					t.Logf("%s does not exist yet; its placeholders are checked once it does", rotationASL)
					continue
				}
			}
			refs, err := deployed.TemplateVariables(path)
			if err != nil {
				t.Errorf("%s: %v", c.At, err)
				continue
			}
			for _, r := range refs {
				if !slices.Contains(c.Vars, r) {
					t.Errorf("%s: %s uses ${%s}, which the call does not set", c.At, filepath.Base(path), r)
				}
			}
			if want, ok := goVars[path]; ok && !slices.Equal(c.Vars, want) {
				t.Errorf("%s: Terraform sets %v for %s, internal/deployed sets %v", c.At, c.Vars, filepath.Base(path), want)
			}
		}
	}
	for path := range goVars {
		if !used[path] {
			t.Errorf("no templatefile call renders %s", path)
		}
	}
}

func TestRotationASLRendersToJSONWithFunctionARNs(t *testing.T) {
	root, _ := load(t)
	path := filepath.Join(root, rotationASL)
	if _, err := os.Stat(path); os.IsNotExist(err) {
		t.Skipf("%s does not exist yet", rotationASL)
	}
	vars := deployed.Vars{}
	for _, v := range []string{"create_key_function_arn", "store_parameter_function_arn", "verify_key_function_arn", "delete_old_keys_function_arn"} {
		vars[v] = "arn:aws:lambda:eu-west-1:111122223333:function:keyrotor-" + v
	}
	out, err := deployed.RenderFile(path, vars)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid([]byte(out)) {
		t.Fatalf("%s does not render to JSON", rotationASL)
	}
}

func TestVariablesAndOutputsAreTypedAndDescribed(t *testing.T) {
	_, mods := load(t)
	for dir, m := range mods {
		for _, v := range m.Find("variable") {
			for _, attr := range []string{"type", "description"} {
				if _, ok := v.Body.Attributes[attr]; !ok {
					t.Errorf("%s: variable %s has no %s", dir, v.Labels[0], attr)
				}
			}
		}
		for _, o := range m.Find("output") {
			if _, ok := o.Body.Attributes["description"]; !ok {
				t.Errorf("%s: output %s has no description", dir, o.Labels[0])
			}
		}
	}
}

// A tfsec ignore must say why on the comment line above it.
func TestTfsecIgnoresCarryAReason(t *testing.T) {
	root, _ := load(t)
	files, err := TerraformFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(src), "\n")
		for i, l := range lines {
			if !strings.Contains(l, "tfsec:ignore") {
				continue
			}
			if i == 0 || !strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#") || strings.Contains(lines[i-1], "tfsec:ignore") {
				t.Errorf("%s:%d: tfsec:ignore without a reason in a comment on the line above", f, i+1)
			}
		}
	}
}

// readAttributes lists the attribute names a reference reads, leaving out the names that only
// identify a resource or data source (aws_kms_key.secrets.arn reads "arn").
func readAttributes(tr hcl.Traversal) []string {
	skip := 1
	switch tr.RootName() {
	case "var", "local", "module", "each", "count", "path", "self", "terraform":
	case "data":
		skip = 3
	default:
		skip = 2
	}
	var names []string
	for i, step := range tr {
		if a, ok := step.(hcl.TraverseAttr); ok && i >= skip {
			names = append(names, a.Name)
		}
	}
	return names
}

func keys(v deployed.Vars) []string { return slices.Sorted(maps.Keys(v)) }

func TestScheduleRetriesDeadLettersAndStartsTheRotationInput(t *testing.T) {
	_, mods := load(t)
	m := mods[managedKeyDir]
	s := onlyBlock(t, m, "resource", "aws_scheduler_schedule")
	block := func(b *hclsyntax.Block, typ string) *hclsyntax.Block {
		for _, c := range b.Body.Blocks {
			if c.Type == typ {
				return c
			}
		}
		return nil
	}
	window := block(s, "flexible_time_window")
	if window == nil || m.Text(window.Body.Attributes["mode"].Expr.Range()) != `"OFF"` {
		t.Error(`flexible_time_window.mode must be "OFF": a rotation starts when scheduled`)
	}
	target := block(s, "target")
	if target == nil {
		t.Fatal("the schedule has no target")
	}
	for attr, want := range map[string]string{"arn": "var.state_machine_arn", "input": "jsonencode(local.rotation)", "role_arn": "aws_iam_role.scheduler.arn"} {
		if a := target.Body.Attributes[attr]; a == nil || m.Text(a.Expr.Range()) != want {
			t.Errorf("target.%s must be %s", attr, want)
		}
	}
	if block(target, "retry_policy") == nil {
		t.Error("the target has no retry_policy")
	}
	if dl := block(target, "dead_letter_config"); dl == nil || m.Text(dl.Body.Attributes["arn"].Expr.Range()) != "aws_sqs_queue.dead_letter.arn" {
		t.Error("the target must dead-letter to aws_sqs_queue.dead_letter")
	}
	// The schedule and the trigger start the same execution input (docs/steps.md).
	rotation, ok := m.Local("rotation")
	if !ok {
		t.Fatal("managed-key has no local.rotation")
	}
	keys, err := m.ObjectKeys(rotation)
	if err != nil {
		t.Fatal(err)
	}
	// accountId only for a member account's user (issue 15); sesRegion only for ses-smtp (issue 25).
	if want := []string{"accountId", "format", "graceSeconds", "inactiveSeconds", "parameterName", "sesRegion", "userName"}; !slices.Equal(keys, want) {
		t.Errorf("local.rotation has %v, the execution input is %v", keys, want)
	}
	inv := m.Find("resource", "aws_lambda_invocation", "rotate")[0]
	carried := false
	if call, ok := inv.Body.Attributes["input"].Expr.(*hclsyntax.FunctionCallExpr); ok && call.Name == "jsonencode" {
		if obj, ok := call.Args[0].(*hclsyntax.ObjectConsExpr); ok {
			for _, item := range obj.Items {
				carried = carried || (hcl.ExprAsKeyword(item.KeyExpr) == "rotation" && m.Text(item.ValueExpr.Range()) == "local.rotation")
			}
		}
	}
	if !carried {
		t.Error("the trigger's input must be jsonencode({rotation = local.rotation, ...})")
	}
}

// With create_user = true, changing user_name replaces the aws_iam_user: Terraform deletes the
// old user before the invocation's update runs, while the user still holds the rotated keys.
// IAM refuses to delete a user with keys unless the provider removes them first.
func TestCreatedUserIsForceDestroyedSoAUserNameChangeCanReplaceIt(t *testing.T) {
	_, mods := load(t)
	a := onlyBlock(t, mods[managedKeyDir], "resource", "aws_iam_user", "managed").Body.Attributes["force_destroy"]
	if a == nil || mods[managedKeyDir].Text(a.Expr.Range()) != "true" {
		t.Error("aws_iam_user.managed must set force_destroy = true: replacing it (a new user_name) deletes the old user while it still has keyrotor's keys")
	}
}

// terraform destroy stops a rotation in its waits (it ends ABORTED with the trigger's
// DestroyedError): that abort must raise neither an alarm nor the failure alert, while
// failures, timeouts and other aborts still do.
func TestDestroyStoppingARotationRaisesNoAlarm(t *testing.T) {
	_, mods := load(t)
	m := mods[engineDir]
	alarm := onlyBlock(t, m, "resource", "aws_cloudwatch_metric_alarm", "executions")
	if got := m.Text(alarm.Body.Attributes["for_each"].Expr.Range()); strings.Contains(got, "ExecutionsAborted") {
		t.Errorf("execution alarms for_each = %s: an abort is asked for", got)
	}
	rule := onlyBlock(t, m, "resource", "aws_cloudwatch_event_rule", "rotation_failed")
	pattern := m.Text(rule.Body.Attributes["event_pattern"].Expr.Range())
	for _, want := range []string{
		`status          = ["FAILED", "TIMED_OUT", "ABORTED"]`,
		`error = [null, { "anything-but" = local.unalerted_errors }]`,
	} {
		if !strings.Contains(pattern, want) {
			t.Errorf("rotation_failed's event_pattern lacks %s", want)
		}
	}
	unalerted, _ := m.Local("unalerted_errors")
	if unalerted == nil || !strings.Contains(m.Text(unalerted.Range()), `"`+rotation.DestroyedError+`"`) {
		t.Errorf("local.unalerted_errors must hold %s", rotation.DestroyedError)
	}
}
