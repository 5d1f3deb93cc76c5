package infracheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// acceptanceVars reads the numeric -var name=value pairs scripts/aws-acceptance.sh passes.
func acceptanceVars(t *testing.T, root string) map[string]int {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(root, "scripts", "aws-acceptance.sh"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, m := range regexp.MustCompile(`-var "?([a-z_]+)=([0-9]+)\b`).FindAllStringSubmatch(string(src), -1) {
		n, _ := strconv.Atoi(m[2])
		out[m[1]] = n
	}
	return out
}

// planFloors renders what the s3-signer example's plan passes with numeric overrides: the
// engine's floors (module "engine") and managed-key's waits and floors (module "signer_key",
// whose min_* are module.engine's outputs), and evaluates managed-key's preconditions on them.
func planFloors(t *testing.T, mods map[string]*Module, overrides map[string]int) (engineIn, keyIn map[string]cty.Value, refused []string) {
	t.Helper()
	ex := mods["infra/examples/s3-signer"]
	vars := moduleVars(t, ex, map[string]cty.Value{"bucket_name": cty.StringVal("keyrotor-acc-111122223333-0a1b2c3d")})
	for k, v := range overrides {
		if _, ok := vars[k]; ok {
			vars[k] = cty.NumberIntVal(int64(v))
		}
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)}}
	inputs := func(module string, names ...string) map[string]cty.Value {
		b := onlyBlock(t, ex, "module", module)
		out := map[string]cty.Value{}
		for _, n := range names {
			a, ok := b.Body.Attributes[n]
			if !ok {
				continue // the module's default
			}
			v, diags := a.Expr.Value(ctx)
			if diags.HasErrors() {
				t.Fatalf("module %s %s: %v", module, n, diags)
			}
			out[n] = v
		}
		return out
	}
	engineIn = inputs("engine", "min_grace_seconds", "min_inactive_seconds")
	ctx.Variables["module"] = cty.ObjectVal(map[string]cty.Value{"engine": cty.ObjectVal(engineIn)})
	keyIn = inputs("signer_key", "grace_seconds", "inactive_seconds", "min_grace_seconds", "min_inactive_seconds")

	mk := mods[managedKeyDir]
	mkVars := moduleVars(t, mk, map[string]cty.Value{
		"user_name": cty.StringVal("keyrotor-acc"), "state_machine_arn": cty.StringVal("arn:aws:states:eu-west-1:111122223333:stateMachine:kr-acc-rotate"),
		"trigger_function_name": cty.StringVal("kr-acc-trigger"), "create_user": cty.False,
	})
	for k, v := range keyIn {
		mkVars[k] = v
	}
	refused, err := mk.Preconditions(mk.EvalContext(DeployContext{Region: "eu-west-1", Partition: "aws", AccountID: "111122223333", Vars: mkVars}), "terraform_data", "checks")
	if err != nil {
		t.Fatal(err)
	}
	return engineIn, keyIn, refused
}

func intOf(v cty.Value) int {
	n, _ := v.AsBigFloat().Int64()
	return int(n)
}

// make aws-acceptance's first apply: the waits it passes reach the engine's Begin, which
// refuses any below the engine's floors (rotation.Config: InvalidInput). The plan inputs as the
// script renders them must meet the floors the same plan gives the engine, and managed-key
// must refuse at plan what the engine would refuse at apply.
func TestAWSAcceptancePlanInputsMeetTheEnginesFloors(t *testing.T) {
	root, mods := load(t)
	script := acceptanceVars(t, root)
	engineIn, keyIn, refused := planFloors(t, mods, script)
	grace, inactive := intOf(keyIn["grace_seconds"]), intOf(keyIn["inactive_seconds"])
	minGrace, minInactive := intOf(engineIn["min_grace_seconds"]), intOf(engineIn["min_inactive_seconds"])
	t.Logf("aws-acceptance plan: graceSeconds %d (engine floor %d), inactiveSeconds %d (engine floor %d)", grace, minGrace, inactive, minInactive)
	if grace < minGrace || inactive < minInactive {
		t.Errorf("the apply-time rotation's waits %d/%d are below the engine's floors %d/%d: Begin refuses it with InvalidInput", grace, inactive, minGrace, minInactive)
	}
	if len(refused) != 0 {
		t.Errorf("managed-key refuses the acceptance plan: %q", refused)
	}
	for _, v := range []string{"min_grace_seconds", "min_inactive_seconds"} {
		if msgs, err := mods[engineDir].Validate(v, engineIn[v]); err != nil || len(msgs) != 0 {
			t.Errorf("the engine refuses %s=%d: %q %v", v, intOf(engineIn[v]), msgs, err)
		}
	}

	// The script before the floors were passed: the engine keeps its defaults and the plan
	// must refuse, as the engine's Begin would.
	delete(script, "min_grace_seconds")
	delete(script, "min_inactive_seconds")
	engineIn, _, refused = planFloors(t, mods, script)
	if len(refused) == 0 {
		t.Errorf("grace %d / inactive %d under the engine's default floors %d/%d: the plan accepts what the engine refuses", grace, inactive, intOf(engineIn["min_grace_seconds"]), intOf(engineIn["min_inactive_seconds"]))
	}
}

// One floor, one definition: every module's default floor is the engine's (rotation's) own.
func TestFloorDefaultsAreTheEngines(t *testing.T) {
	_, mods := load(t)
	want := map[string]int{"min_grace_seconds": rotation.DefaultMinGraceSeconds, "min_inactive_seconds": rotation.DefaultMinInactiveSeconds}
	for _, dir := range []string{engineDir, managedKeyDir, "infra/examples/s3-signer"} {
		for name, w := range want {
			b := onlyBlock(t, mods[dir], "variable", name)
			v, diags := b.Body.Attributes["default"].Expr.Value(nil)
			if diags.HasErrors() || intOf(v) != w {
				t.Errorf("%s: variable %s defaults to %s, want the engine's %d", dir, name, attr(mods[dir], b, "default"), w)
			}
		}
	}
	// The example's own waits meet them.
	ex := mods["infra/examples/s3-signer"]
	if _, _, refused := planFloors(t, mods, nil); len(refused) != 0 {
		t.Errorf("%s with its defaults: %q", ex.Dir, refused)
	}
}
