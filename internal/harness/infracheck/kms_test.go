package infracheck

import (
	"fmt"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

const kmsKeyPolicyMaxBytes = 32768 // https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html

// readersValue is parameter_readers with n roles of account, each reading one parameter; long
// makes every name as long as IAM and the validation allow.
func readersValue(n int, account string, long bool) cty.Value {
	m := map[string]cty.Value{}
	for i := range n {
		role, user := fmt.Sprintf("consumer-%d", i), fmt.Sprintf("user-%d", i)
		if long {
			role = fmt.Sprintf("%s%04d", strings.Repeat("r", 60), i) // 64: IAM's limit
			user = fmt.Sprintf("%s%04d", strings.Repeat("u", 60), i)
		}
		m[fmt.Sprintf("arn:aws:iam::%s:role/%s", account, role)] = cty.ListVal([]cty.Value{cty.StringVal("/keyrotor/" + user)})
	}
	if n == 0 {
		return cty.MapValEmpty(cty.List(cty.String))
	}
	return cty.MapVal(m)
}

func keyPolicyPlan(t *testing.T, m *Module, readers cty.Value, name, region string) (size int, failed []string) {
	t.Helper()
	vars := moduleVars(t, m, map[string]cty.Value{"build_dir": cty.StringVal("build")})
	vars["parameter_readers"], vars["name"] = readers, cty.StringVal(name)
	ctx := m.EvalContext(DeployContext{Region: region, Partition: "aws", AccountID: "111122223333", Vars: vars})
	planned, ok := ctx.Variables["local"].AsValueMap()["key_policy_planned"]
	if !ok {
		t.Fatal("local.key_policy_planned did not evaluate at plan")
	}
	failed, err := m.Preconditions(ctx, "aws_kms_key", "secrets")
	if err != nil {
		t.Fatal(err)
	}
	return len(planned.AsString()), failed
}

// The engine's key policy grows one statement per (reader, parameter): the plan refuses a
// policy above KMS's 32,768 bytes, which AWS would refuse at CreateKey/PutKeyPolicy, and the
// limit is about 60 readers, not 80.
func TestKeyPolicySizeIsCheckedAtPlanAgainstKMSLimit(t *testing.T) {
	_, mods := load(t)
	m := mods[engineDir]
	name, region := strings.Repeat("k", 28), "us-isof-south-1" // the validation's and AWS's longest
	for _, long := range []bool{false, true} {
		base, _ := keyPolicyPlan(t, m, readersValue(0, "111122223333", long), name, region)
		one, _ := keyPolicyPlan(t, m, readersValue(1, "111122223333", long), name, region)
		perStatement := one - base
		fits := 0
		for n := 1; n <= 120; n++ {
			size, failed := keyPolicyPlan(t, m, readersValue(n, "111122223333", long), name, region)
			over := size > kmsKeyPolicyMaxBytes
			refused := len(failed) > 0
			if over != refused {
				t.Fatalf("long=%v: %d readers render %d bytes; the plan refused=%v (%q)", long, n, size, refused, failed)
			}
			if !over {
				fits = n
			}
		}
		t.Logf("long names=%v: base %d bytes, one statement %d bytes, %d readers fit in %d bytes", long, base, perStatement, fits, kmsKeyPolicyMaxBytes)
		if fits >= 80 || fits < 40 {
			t.Errorf("long=%v: %d readers fit; the module documents about 60", long, fits)
		}
	}
	// The old claim: 80 readers of ordinary names passed the plan and KMS refused them.
	if size, failed := keyPolicyPlan(t, m, readersValue(80, "111122223333", false), "keyrotor", "eu-west-1"); len(failed) == 0 {
		t.Errorf("80 readers render %d bytes and the plan accepts them; KMS allows %d", size, kmsKeyPolicyMaxBytes)
	}
}

// Standard-tier parameters are not shared across accounts, so a reader role of another
// account is refused at plan.
func TestKeyPolicyRefusesReadersOfOtherAccounts(t *testing.T) {
	_, mods := load(t)
	m := mods[engineDir]
	if _, failed := keyPolicyPlan(t, m, readersValue(2, "111122223333", false), "keyrotor", "eu-west-1"); len(failed) != 0 {
		t.Errorf("readers of the engine's account refused: %q", failed)
	}
	_, failed := keyPolicyPlan(t, m, readersValue(1, "444455556666", false), "keyrotor", "eu-west-1")
	if len(failed) != 1 || !strings.Contains(failed[0], "Standard-tier") {
		t.Errorf("a reader of another account: %q, want the Standard-tier refusal", failed)
	}
}

// The member account's key carries the same statements and the same two checks.
func TestMemberKeyPolicyRefusesOversizeAndOtherAccounts(t *testing.T) {
	_, mods := load(t)
	m := mods[memberDir]
	plan := func(readers cty.Value) []string {
		vars := moduleVars(t, m, map[string]cty.Value{"hub_account_id": cty.StringVal("999988887777"), "external_id": cty.StringVal("keyrotor-external-id")})
		vars["parameter_readers"] = readers
		failed, err := m.Preconditions(m.EvalContext(DeployContext{Region: "eu-west-1", Partition: "aws", AccountID: "111122223333", Vars: vars}), "aws_kms_key", "member")
		if err != nil {
			t.Fatal(err)
		}
		return failed
	}
	if failed := plan(readersValue(3, "111122223333", false)); len(failed) != 0 {
		t.Errorf("3 readers of the member account refused: %q", failed)
	}
	if failed := plan(readersValue(80, "111122223333", false)); len(failed) != 1 || !strings.Contains(failed[0], "32,768") {
		t.Errorf("80 readers: %q, want the size refusal", failed)
	}
	if failed := plan(readersValue(1, "444455556666", false)); len(failed) != 1 || !strings.Contains(failed[0], "Standard-tier") {
		t.Errorf("a reader of another account: %q, want the Standard-tier refusal", failed)
	}
}

// The member's target role trust policy is checked at plan against IAM's 2,048-character
// limit for a role trust policy (reference_iam-quotas.html): the external id the variable
// accepts (up to 1,224 characters) with the longest engine_name does not fit.
func TestMemberTrustPolicySizeIsCheckedAtPlan(t *testing.T) {
	_, mods := load(t)
	m := mods[memberDir]
	plan := func(externalID, engine string) []string {
		vars := moduleVars(t, m, map[string]cty.Value{"hub_account_id": cty.StringVal("999988887777"), "external_id": cty.StringVal(externalID),
			"engine_name": cty.StringVal(engine)})
		failed, err := m.Preconditions(m.EvalContext(DeployContext{Region: "us-gov-west-1", Partition: "aws-us-gov", AccountID: "111122223333", Vars: vars}), "aws_iam_role", "target")
		if err != nil {
			t.Fatal(err)
		}
		return failed
	}
	longest := "E" + strings.Repeat("e", 27)
	for _, tc := range []struct {
		name, externalID string
		refused          bool
	}{
		{"an ordinary external id", "keyrotor-external-id", false},
		{"a 500-character external id", strings.Repeat("x", 500), false},
		{"the longest external id the variable accepts", strings.Repeat("x", 1224), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failed := plan(tc.externalID, longest)
			if refused := len(failed) == 1 && strings.Contains(failed[0], "2,048"); refused != tc.refused || (!tc.refused && len(failed) > 0) {
				t.Errorf("preconditions failed: %q, want refused = %v", failed, tc.refused)
			}
		})
	}
}
