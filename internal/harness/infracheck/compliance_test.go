package infracheck

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// complianceFunctions are the Terraform functions the managed-key's compliance check uses
// (cty's stdlib implements them as Terraform does; tonumber is Terraform's conversion).
var complianceFunctions = map[string]function.Function{
	"regexall": stdlib.RegexAllFunc, "length": lengthFunc, "tonumber": stdlib.MakeToFunc(cty.Number),
	"format": stdlib.FormatFunc, "max": stdlib.MaxFunc, "floor": stdlib.FloorFunc,
}

// evalLocals evaluates the named locals of m in order under vars.
func evalLocals(t *testing.T, m *Module, vars map[string]cty.Value, names ...string) map[string]cty.Value {
	t.Helper()
	locals := map[string]cty.Value{}
	for _, n := range names {
		expr, ok := m.Local(n)
		if !ok {
			t.Fatalf("managed-key has no local %s", n)
		}
		v, diags := expr.Value(&hcl.EvalContext{Functions: complianceFunctions,
			Variables: map[string]cty.Value{"var": cty.ObjectVal(vars), "local": cty.ObjectVal(locals)}})
		if diags.HasErrors() {
			t.Fatalf("local %s: %s", n, diags)
		}
		locals[n] = v
	}
	return locals
}

// compliancePrecondition is the checks precondition that compares with max_key_age_days.
func compliancePrecondition(t *testing.T, m *Module) *hclsyntax.Block {
	t.Helper()
	lc := child(onlyBlock(t, m, "resource", "terraform_data", "checks"), "lifecycle")
	for _, b := range lc.Body.Blocks {
		if b.Type == "precondition" && strings.Contains(m.Text(b.Body.Attributes["condition"].Expr.Range()), "var.max_key_age_days") {
			return b
		}
	}
	t.Fatal("managed-key's checks have no precondition on max_key_age_days")
	return nil
}

// Issue 25: a schedule whose period + grace + inactive lets a key outlive max_key_age_days
// (default 90, AWS Config access-keys-rotated's maxAccessKeyAge) is refused at plan time.
func TestManagedKeyRefusesASchedulePastTheMaximumKeyAge(t *testing.T) {
	_, mods := load(t)
	m := mods[managedKeyDir]
	cond := compliancePrecondition(t, m)
	defaults := varDefaults(t, m)
	if got, _ := defaults["max_key_age_days"].AsBigFloat().Int64(); got != 90 {
		t.Errorf("max_key_age_days defaults to %d, want 90 (AWS Config's default)", got)
	}
	const day = 86400
	tests := []struct {
		name            string
		schedule        string
		grace, inactive int
		maxAge          int
		ok              bool
		wantInMessage   string
	}{
		{name: "the module's defaults", schedule: "", grace: -1, inactive: -1, ok: true},
		{name: "rate(90 days) plus the default waits", schedule: "rate(90 days)", grace: rotation.DefaultGraceSeconds, inactive: rotation.DefaultInactiveSeconds, maxAge: 90, wantInMessage: "91.04 days, past max_key_age_days (90"},
		{name: "rate(88 days) plus the default waits", schedule: "rate(88 days)", grace: rotation.DefaultGraceSeconds, inactive: rotation.DefaultInactiveSeconds, maxAge: 90, ok: true},
		{name: "exactly the maximum", schedule: "rate(89 days)", grace: 0, inactive: day, maxAge: 90, ok: true},
		{name: "one second past it", schedule: "rate(89 days)", grace: 1, inactive: day, maxAge: 90, wantInMessage: "rotate more often, e.g. rate(88 days)"},
		{name: "hours add up too", schedule: "rate(2160 hours)", grace: 0, inactive: 1, maxAge: 90, wantInMessage: "past max_key_age_days (90"},
		{name: "a stricter maximum", schedule: "rate(30 days)", grace: rotation.DefaultGraceSeconds, inactive: rotation.DefaultInactiveSeconds, maxAge: 30, wantInMessage: "past max_key_age_days (30"},
		{name: "cron is not measured", schedule: "cron(0 3 1 * ? *)", grace: 0, inactive: 0, maxAge: 1, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]cty.Value{}
			for k, v := range defaults {
				vars[k] = v
			}
			if tt.schedule != "" {
				vars["schedule_expression"] = cty.StringVal(tt.schedule)
				vars["grace_seconds"] = cty.NumberIntVal(int64(tt.grace))
				vars["inactive_seconds"] = cty.NumberIntVal(int64(tt.inactive))
				vars["max_key_age_days"] = cty.NumberIntVal(int64(tt.maxAge))
			}
			locals := evalLocals(t, m, vars, "schedule_rate", "schedule_period_seconds", "oldest_key_seconds")
			ctx := &hcl.EvalContext{Functions: complianceFunctions,
				Variables: map[string]cty.Value{"var": cty.ObjectVal(vars), "local": cty.ObjectVal(locals)}}
			ok, diags := cond.Body.Attributes["condition"].Expr.Value(ctx)
			if diags.HasErrors() {
				t.Fatalf("condition: %s", diags)
			}
			msg, diags := cond.Body.Attributes["error_message"].Expr.Value(ctx)
			if diags.HasErrors() {
				t.Fatalf("error_message: %s", diags)
			}
			if ok.True() != tt.ok || (!tt.ok && !strings.Contains(msg.AsString(), tt.wantInMessage)) {
				t.Errorf("accepted = %v, want %v; message %q (want %q in it)", ok.True(), tt.ok, msg.AsString(), tt.wantInMessage)
			}
		})
	}
	fmt.Println("managed-key compliance: max_key_age_days default 90 (AWS Config access-keys-rotated)")
}

func TestManagedKeyMaxKeyAgeDaysValidates(t *testing.T) {
	_, mods := load(t)
	m := mods[managedKeyDir]
	for _, tt := range []struct {
		days float64
		ok   bool
	}{{90, true}, {1, true}, {365, true}, {0, false}, {-1, false}, {1.5, false}} {
		failed, err := m.Validate("max_key_age_days", cty.NumberFloatVal(tt.days))
		if err != nil {
			t.Fatal(err)
		}
		if (len(failed) == 0) != tt.ok {
			t.Errorf("max_key_age_days = %g: failures %v, want ok %v", tt.days, failed, tt.ok)
		}
	}
}
