package infracheck

// Regression tests for the infra defects of issue 13: what Terraform accepts here but AWS or the
// AWS provider refuses or runs differently.

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/keyrotor/keyrotor/infra/examples/s3-signer/consumer/presigner"
	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/ssmcreds"
)

const exampleDir = "infra/examples/s3-signer"

var roleRef = regexp.MustCompile(`aws_iam_role\.([A-Za-z0-9_-]+)`)

// policyText is a role policy's policy argument as written plus the text of the templatefile it
// renders, when that template's path is literal.
func policyText(t *testing.T, m *Module, b *hclsyntax.Block) string {
	t.Helper()
	a, ok := b.Body.Attributes["policy"]
	if !ok {
		return ""
	}
	text := m.Text(a.Expr.Range())
	if call, ok := a.Expr.(*hclsyntax.FunctionCallExpr); ok && call.Name == "templatefile" {
		tcs, err := m.templateCalls(call, nil)
		if err == nil && len(tcs) == 1 {
			src, err := os.ReadFile(tcs[0].Path)
			if err != nil {
				t.Fatal(err)
			}
			text += string(src)
		}
	}
	return text
}

// BLOCKER (issue 13, 2): Lambda refuses CreateFunction for a function with tracing_config
// mode Active whose role may not call xray:PutTraceSegments ("The provided execution role does
// not have permissions to call PutTraceSegments on XRAY"), so the role's policy must grant the
// trace actions of AWSXRayDaemonWriteAccess
// (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSXRayDaemonWriteAccess.html)
// and the function must depend on that policy, or Terraform may create both at once.
func TestActiveTracedFunctionsMayWriteTracesBeforeTheyAreCreated(t *testing.T) {
	_, mods := load(t)
	traced := 0
	for dir, m := range mods {
		for _, fn := range m.Find("resource", "aws_lambda_function") {
			tracing := child(fn, "tracing_config")
			if tracing == nil || attr(m, tracing, "mode") == `"PassThrough"` {
				continue
			}
			traced++
			name := dir + ": aws_lambda_function." + fn.Labels[1]
			match := roleRef.FindStringSubmatch(attr(m, fn, "role"))
			if match == nil {
				t.Errorf("%s: role is not an aws_iam_role of this module", name)
				continue
			}
			var granting []string
			for _, p := range m.Find("resource", "aws_iam_role_policy") {
				if !strings.Contains(attr(m, p, "role"), "aws_iam_role."+match[1]) {
					continue
				}
				text := policyText(t, m, p)
				if strings.Contains(text, `"xray:PutTraceSegments"`) && strings.Contains(text, `"xray:PutTelemetryRecords"`) {
					granting = append(granting, "aws_iam_role_policy."+p.Labels[1])
				}
			}
			if len(granting) == 0 {
				t.Errorf("%s traces Active but no policy of aws_iam_role.%s grants xray:PutTraceSegments and xray:PutTelemetryRecords", name, match[1])
				continue
			}
			deps := attr(m, fn, "depends_on")
			if !slices.ContainsFunc(granting, func(p string) bool { return regexp.MustCompile(regexp.QuoteMeta(p) + `\b`).MatchString(deps) }) {
				t.Errorf("%s must depend_on %s (its X-Ray policy), depends_on = %s", name, strings.Join(granting, " or "), deps)
			}
		}
	}
	if traced < 2 {
		t.Fatalf("found %d traced functions, want the engine's and the example consumer's", traced)
	}
}

// varDefaults evaluates every variable default of m.
func varDefaults(t *testing.T, m *Module) map[string]cty.Value {
	t.Helper()
	vars := map[string]cty.Value{}
	for _, v := range m.Find("variable") {
		if d, ok := v.Body.Attributes["default"]; ok {
			val, diags := d.Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("variable %s default: %s", v.Labels[0], diags)
			}
			vars[v.Labels[0]] = val
		}
	}
	return vars
}

// MAJOR (issue 13, 4): a URL signed with the old key just before the consumer's cache (ssmcreds'
// TTL) expires lives url_max_expires_seconds more; the old key must stay active that long after
// the new one is stored, so grace >= TTL + URL life. The example enforces it with a
// precondition, and the consumer is configured with the same two figures.
func TestExampleGraceOutlivesURLsSignedWithTheCachedOldKey(t *testing.T) {
	_, mods := load(t)
	m := mods[exampleDir]
	fn := onlyBlock(t, m, "resource", "aws_lambda_function", "consumer")
	var cond *hclsyntax.Block
	if lc := child(fn, "lifecycle"); lc != nil {
		cond = child(lc, "precondition")
	}
	if cond == nil {
		t.Fatal("aws_lambda_function.consumer has no lifecycle precondition on grace_seconds")
	}
	defaults := varDefaults(t, m)
	check := func(grace int64) (bool, string) {
		vars := map[string]cty.Value{}
		for k, v := range defaults {
			vars[k] = v
		}
		vars["grace_seconds"] = cty.NumberIntVal(grace)
		ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)}}
		ok, diags := cond.Body.Attributes["condition"].Expr.Value(ctx)
		if diags.HasErrors() {
			t.Fatalf("precondition: %s", diags)
		}
		msg, diags := cond.Body.Attributes["error_message"].Expr.Value(ctx)
		if diags.HasErrors() {
			t.Fatalf("error_message: %s", diags)
		}
		return ok.True(), msg.AsString()
	}
	ttl, _ := defaults["signer_cache_ttl_seconds"].AsBigFloat().Int64()
	life, _ := defaults["url_max_expires_seconds"].AsBigFloat().Int64()
	grace, _ := defaults["grace_seconds"].AsBigFloat().Int64()
	if grace < ttl+life {
		t.Errorf("default grace_seconds %d < signer_cache_ttl_seconds %d + url_max_expires_seconds %d", grace, ttl, life)
	}
	if ok, _ := check(grace); !ok {
		t.Errorf("the precondition refuses the example's own defaults (grace %d)", grace)
	}
	if ok, _ := check(ttl + life); !ok {
		t.Errorf("the precondition refuses grace = TTL + URL life (%d)", ttl+life)
	}
	// The example's old grace: 900 s < 300 + 900.
	if ok, msg := check(900); ok || !strings.Contains(msg, "grace_seconds (900)") {
		t.Errorf("grace 900 passed the precondition (or its message does not name it): %q", msg)
	}
	// The figures are the ones the consumer runs with.
	if ttl != int64(ssmcreds.DefaultTTL/time.Second) {
		t.Errorf("signer_cache_ttl_seconds default %d differs from ssmcreds.DefaultTTL %s", ttl, ssmcreds.DefaultTTL)
	}
	if life < presigner.DefaultExpiresSeconds {
		t.Errorf("url_max_expires_seconds %d refuses the consumer's default expiry %d", life, presigner.DefaultExpiresSeconds)
	}
	env := m.Text(child(fn, "environment").Body.Attributes["variables"].Expr.Range())
	for _, want := range []string{"SIGNER_CACHE_TTL_SECONDS = tostring(var.signer_cache_ttl_seconds)", "SIGNER_URL_MAX_SECONDS   = tostring(var.url_max_expires_seconds)"} {
		if !strings.Contains(env, want) {
			t.Errorf("the consumer's environment lacks %s", want)
		}
	}
	key := onlyBlock(t, m, "module", "signer_key")
	if got := attr(m, key, "grace_seconds"); got != "var.grace_seconds" {
		t.Errorf("module.signer_key grace_seconds = %s, want var.grace_seconds (the value the precondition checks)", got)
	}
}

// MINOR (issue 13, 5): the modules are checked against hashicorp/aws 6.25.0 and use its
// attribute names, so they pin major 6; aws_region's name is deprecated there for region
// (@cdktf/provider-aws 21.22.1, lib/data-aws-region: both attributes, region the new one).
func TestModulesPinProviderMajorSixAndItsAttributeNames(t *testing.T) {
	_, mods := load(t)
	for dir, m := range mods {
		tfs := m.Find("terraform")
		if len(tfs) != 1 {
			t.Errorf("%s: %d terraform blocks, want 1", dir, len(tfs))
			continue
		}
		rp := child(tfs[0], "required_providers")
		if rp == nil && len(m.Find("resource"))+len(m.Find("data")) == 0 {
			continue // uses no provider (infra/modules/inputs)
		}
		if rp == nil {
			t.Errorf("%s: no required_providers", dir)
			continue
		}
		if got := m.Text(rp.Body.Attributes["aws"].Expr.Range()); !strings.Contains(got, `version = "~> 6.0"`) {
			t.Errorf("%s: aws provider constraint %s, want version = \"~> 6.0\"", dir, got)
		}
		for _, b := range m.Blocks {
			_ = hclsyntax.VisitAll(b.Body, func(n hclsyntax.Node) hcl.Diagnostics {
				e, ok := n.(hclsyntax.Expression)
				if !ok {
					return nil
				}
				for _, tr := range e.Variables() {
					if len(tr) >= 4 && tr.RootName() == "data" && tr[1].(hcl.TraverseAttr).Name == "aws_region" {
						if a, ok := tr[3].(hcl.TraverseAttr); ok && a.Name == "name" {
							t.Errorf("%s: %s uses aws_region's deprecated name; use region", dir, tr.SourceRange())
						}
					}
				}
				return nil
			})
		}
	}
}

// MINOR (issue 13, 5): build_dir must not default to a path.module-relative build/, which is
// .terraform/modules/<name>/... (no zips) when the module comes from git. It is required, and
// a directory without the zips is refused by its validation, not by filebase64sha256.
func TestEngineBuildDirIsRequiredAndMustHoldTheZips(t *testing.T) {
	_, mods := load(t)
	m := mods[engineDir]
	v := onlyBlock(t, m, "variable", "build_dir")
	if _, ok := v.Body.Attributes["default"]; ok {
		t.Error("variable build_dir has a default; a module used from git would look inside .terraform/modules")
	}
	empty := t.TempDir()
	full := t.TempDir()
	for _, fn := range deployed.Functions {
		if err := os.WriteFile(filepath.Join(full, fn+".zip"), []byte("zip"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	failed, err := m.Validate("build_dir", cty.StringVal(empty))
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || !strings.Contains(failed[0], "make build") {
		t.Errorf("an empty build_dir gave %q, want the message telling to run make build", failed)
	}
	if failed, err := m.Validate("build_dir", cty.StringVal(full)); err != nil || len(failed) != 0 {
		t.Errorf("a build_dir with every zip was refused: %q %v", failed, err)
	}
	if got := attr(m, onlyBlock(t, m, "resource", "aws_lambda_function", "function"), "filename"); got != `"${var.build_dir}/${each.key}.zip"` {
		t.Errorf("aws_lambda_function.function filename = %s", got)
	}
	if got := attr(mods[exampleDir], onlyBlock(t, mods[exampleDir], "module", "engine"), "build_dir"); got != `"${path.root}/../../../build"` {
		t.Errorf("the example passes build_dir = %s, want this repository's build/", got)
	}
}
