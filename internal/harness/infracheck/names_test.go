package infracheck

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// nameInputs: per module, the variable its names are computed from, and values for the
// variables without a default.
var nameInputs = map[string]struct {
	vary     string
	required map[string]cty.Value
}{
	"infra/modules/engine": {vary: "name", required: map[string]cty.Value{"build_dir": cty.StringVal("build")}},
	"infra/modules/managed-key": {vary: "user_name", required: map[string]cty.Value{
		"user_name":             cty.StringVal("s3-signer"),
		"state_machine_arn":     cty.StringVal("arn:aws:states:eu-west-1:111122223333:stateMachine:keyrotor-rotate"),
		"trigger_function_name": cty.StringVal("keyrotor-trigger"),
	}},
	"infra/modules/member-account": {vary: "engine_name", required: map[string]cty.Value{"hub_account_id": cty.StringVal("111122223333"), "external_id": cty.StringVal("keyrotor-external-id")}},
}

// candidates are values a name variable might take: every length to past IAM's limits, in
// lower and upper case, with each character IAM names allow, and S3's reserved prefixes.
func candidates() []string {
	var out []string
	for n := 1; n <= 70; n++ {
		out = append(out, strings.Repeat("a", n), strings.Repeat("A", n), "a"+strings.Repeat("-", n-1))
		for _, c := range []string{"_", "+", "=", ",", ".", "@"} {
			if n >= 3 {
				out = append(out, "a"+strings.Repeat(c, n-2)+"a")
			}
		}
		for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
			if n > len(p) {
				out = append(out, p+strings.Repeat("a", n-len(p)))
			}
		}
	}
	return out
}

// extremeRegions are the longest and shortest region names of every partition botocore knows
// (data/endpoints.json), with their partition.
func extremeRegions(t *testing.T) map[string]string {
	regions, err := Regions()
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(regions))
	for r := range regions {
		names = append(names, r)
	}
	sort.Slice(names, func(i, j int) bool {
		return len(names[i]) < len(names[j]) || len(names[i]) == len(names[j]) && names[i] < names[j]
	})
	return map[string]string{names[0]: regions[names[0]], names[len(names)-1]: regions[names[len(names)-1]]}
}

func moduleVars(t *testing.T, m *Module, required map[string]cty.Value) map[string]cty.Value {
	t.Helper()
	vars := map[string]cty.Value{}
	for _, b := range m.Find("variable") {
		if v, ok := required[b.Labels[0]]; ok {
			vars[b.Labels[0]] = v
			continue
		}
		a, ok := b.Body.Attributes["default"]
		if !ok {
			t.Fatalf("variable %s has no default and no test value", b.Labels[0])
		}
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		vars[b.Labels[0]] = v
	}
	return vars
}

// TestEveryComputedNameFitsItsAWSRuleAtTheValidationsLimits renders every name the modules
// compute (roles, policies, functions, log groups, state machines, schedules, aliases, topics,
// alarms, filters, rules, queues, buckets) for every value of its variable that the module's
// validation accepts, in the longest and shortest region names, and checks each against the
// resource's naming rule: the API model's min/max/pattern (botocore) or the documented rule.
func TestEveryComputedNameFitsItsAWSRuleAtTheValidationsLimits(t *testing.T) {
	_, mods := load(t)
	rules, err := NameRules()
	if err != nil {
		t.Fatal(err)
	}
	regions := extremeRegions(t)
	for dir, in := range nameInputs {
		m := mods[dir]
		base := moduleVars(t, m, in.required)
		accepted, longest := 0, 0
		problems := map[string]bool{}
		// Two values IAM tells apart (names are case-insensitive in IAM) must not share a name
		// that depends on them: resource and region → rendered name → the values that gave it.
		givenBy := map[string]map[string][]string{}
		for _, c := range candidates() {
			msgs, err := m.Validate(in.vary, cty.StringVal(c))
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) > 0 {
				continue
			}
			accepted++
			longest = max(longest, len(c))
			for region, partition := range regions {
				vars := map[string]cty.Value{}
				for k, v := range base {
					vars[k] = v
				}
				vars[in.vary] = cty.StringVal(c)
				names, err := m.Names(DeployContext{Region: region, Partition: partition, AccountID: "111122223333", Vars: vars}, rules)
				if err != nil {
					t.Fatalf("%s: %v", dir, err)
				}
				for _, n := range names {
					key := fmt.Sprintf("%s.%s[%s] %s", n.Resource, n.Label, n.Key, region)
					if givenBy[key] == nil {
						givenBy[key] = map[string][]string{}
					}
					givenBy[key][n.Name] = append(givenBy[key][n.Name], c)
					for _, r := range rules {
						if r.Resource != n.Resource {
							continue
						}
						if err := r.Check(n.Name); err != nil {
							// One report per resource and kind of breach.
							key := fmt.Sprintf("%s: %s.%s", dir, n.Resource, n.Label)
							if !problems[key] {
								problems[key] = true
								t.Errorf("%s (%s=%q, region %s): %s %q %v; rule: %s", dir, in.vary, c, region, n.Resource+"."+n.Label, n.Name, err, r.Source)
							}
						}
					}
				}
			}
		}
		for key, byName := range givenBy {
			if len(byName) < 2 {
				continue // a fixed name (one per account by design), not derived from the variable
			}
			for name, values := range byName {
				for _, v := range values[1:] {
					if !strings.EqualFold(v, values[0]) && !problems[key+"collision"] {
						problems[key+"collision"] = true
						t.Errorf("%s: %s=%q and %q both name %s %q: the second apply conflicts with the first", dir, in.vary, values[0], v, key, name)
					}
				}
			}
		}
		if accepted == 0 || longest < 2 {
			t.Errorf("%s: the validation of %s accepted %d candidates (longest %d): the test checked nothing", dir, in.vary, accepted, longest)
		}
		t.Logf("%s: %d values of %s accepted (longest %d characters), regions %v", dir, accepted, in.vary, longest, regions)
	}
}

func TestBucketNameRules(t *testing.T) {
	for name, ok := range map[string]bool{
		"keyrotor-fleet-111122223333-eu-west-1": true, "Keyrotor-fleet": false, "ab": false, strings.Repeat("a", 64): false,
		"xn--abc": false, "a..b": false, "192.168.5.4": false, "abc-s3alias": false, "-abc": false, "abc": true,
	} {
		if err := BucketNameProblem(name); (err == nil) != ok {
			t.Errorf("%q: %v, want ok=%v", name, err, ok)
		}
	}
}
