package infracheck

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Severity is how much a finding matters: tfsec's levels for the security rules (security.go),
// Warning for tflint's style rules (style.go, all of which tflint reports as warnings).
type Severity string

// The severities, as tfsec names them.
const (
	Critical Severity = "CRITICAL"
	High     Severity = "HIGH"
	Medium   Severity = "MEDIUM"
	Low      Severity = "LOW"
	Warning  Severity = "WARNING"
)

// Rule is one check over a parsed module. ID is the name of the tflint rule or tfsec check it
// re-implements, so that the ignore annotations those tools read keep working.
type Rule struct {
	ID       string
	Severity Severity
	// Enforced rules fail check-terraform; the others are reported (see Blocking).
	Enforced bool
	Check    func(m *Module) []Finding
}

// Finding is one place a rule is broken, with what to do about it.
type Finding struct {
	Rule     string
	Severity Severity
	Range    hcl.Range // where to look
	Block    hcl.Range // the definition of the block it is in (an ignore above the block covers it)
	Message  string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: %s %s: %s", f.Range.Filename, f.Range.Start.Line, f.Severity, f.Rule, f.Message)
}

// Lint runs rules over every module and returns their findings, sorted by place, without those
// an annotation ignores: tflint's `# tflint-ignore: rule[, rule]` (or `all`) on the finding's
// line or the line above it, tfsec's `#tfsec:ignore:<id>` on the line above the finding or
// above its block (https://aquasecurity.github.io/tfsec/latest/guides/configuration/ignores/,
// https://github.com/terraform-linters/tflint/blob/v0.61.0/docs/user-guide/annotations.md).
func Lint(mods map[string]*Module, rules []Rule) []Finding {
	var out []Finding
	for _, m := range mods {
		ign := m.ignores()
		for _, r := range rules {
			for _, f := range r.Check(m) {
				f.Rule, f.Severity = r.ID, r.Severity
				if !ign.covers(f) {
					out = append(out, f)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Range, out[j].Range
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		if a.Start.Line != b.Start.Line {
			return a.Start.Line < b.Start.Line
		}
		return out[i].Rule < out[j].Rule
	})
	return out
}

// Blocking returns the findings of enforced rules.
func Blocking(findings []Finding, rules []Rule) []Finding {
	enforced := map[string]bool{}
	for _, r := range rules {
		enforced[r.ID] = r.Enforced
	}
	var out []Finding
	for _, f := range findings {
		if enforced[f.Rule] {
			out = append(out, f)
		}
	}
	return out
}

// annotations: file → line → rule IDs ignored from that line.
type annotations map[string]map[int][]string

var (
	tflintIgnore = regexp.MustCompile(`tflint-ignore:\s*([a-z_,\s]+)`)
	tfsecIgnore  = regexp.MustCompile(`(?:tfsec|trivy):ignore:([a-z0-9-]+)`)
)

func (m *Module) ignores() annotations {
	a := annotations{}
	for name, src := range m.src {
		tokens, _ := hclsyntax.LexConfig(src, name, hcl.InitialPos)
		for _, t := range tokens {
			if t.Type != hclsyntax.TokenComment {
				continue
			}
			text, line := string(t.Bytes), t.Range.Start.Line
			if a[name] == nil {
				a[name] = map[int][]string{}
			}
			if mm := tflintIgnore.FindStringSubmatch(text); mm != nil {
				for _, id := range strings.Split(mm[1], ",") {
					a[name][line] = append(a[name][line], "tflint:"+strings.TrimSpace(id))
				}
			}
			for _, mm := range tfsecIgnore.FindAllStringSubmatch(text, -1) {
				a[name][line] = append(a[name][line], "tfsec:"+mm[1])
			}
		}
	}
	return a
}

func (a annotations) covers(f Finding) bool {
	lines := a[f.Range.Filename]
	if f.Severity == Warning { // tflint: the finding's line or the one above
		for _, l := range []int{f.Range.Start.Line, f.Range.Start.Line - 1} {
			if slices.Contains(lines[l], "tflint:"+f.Rule) || slices.Contains(lines[l], "tflint:all") {
				return true
			}
		}
		return false
	}
	id := "tfsec:" + f.Rule
	if slices.Contains(lines[f.Range.Start.Line], id) || slices.Contains(lines[f.Range.Start.Line-1], id) {
		return true
	}
	return f.Block.Filename != "" && slices.Contains(a[f.Block.Filename][f.Block.Start.Line-1], id)
}

// files returns the module's file names, sorted.
func (m *Module) files() []string {
	names := make([]string, 0, len(m.src))
	for n := range m.src {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// walk calls fn on every expression of the module, outermost first.
func (m *Module) walk(fn func(e hclsyntax.Expression)) {
	for _, b := range m.Blocks {
		_ = hclsyntax.VisitAll(b.Body, func(n hclsyntax.Node) hcl.Diagnostics {
			if e, ok := n.(hclsyntax.Expression); ok {
				fn(e)
			}
			return nil
		})
	}
}

// attr returns the attribute name of b, or nil.
func attrOf(b *hclsyntax.Block, name string) *hclsyntax.Attribute {
	if b == nil {
		return nil
	}
	return b.Body.Attributes[name]
}

// childBlock returns the first nested block of typ.
func childBlock(b *hclsyntax.Block, typ string) *hclsyntax.Block {
	if b == nil {
		return nil
	}
	for _, c := range b.Body.Blocks {
		if c.Type == typ {
			return c
		}
	}
	return nil
}

// staticValue evaluates expr as far as the module alone allows: its variables' defaults and
// the locals those give. known is false when the value depends on anything else (a resource, a
// caller's argument): the security rules then treat the attribute as set by someone who knows.
func (m *Module) staticValue(expr hclsyntax.Expression) (v cty.Value, known bool) {
	if m.static == nil {
		vars := map[string]cty.Value{}
		for _, b := range m.Find("variable") {
			if d := attrOf(b, "default"); d != nil {
				if v, diags := d.Expr.Value(nil); !diags.HasErrors() && v.IsWhollyKnown() {
					vars[b.Labels[0]] = v
				}
			}
		}
		ctx := &hcl.EvalContext{
			Variables: map[string]cty.Value{
				"var":  cty.ObjectVal(vars),
				"path": cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(m.Dir)}),
			},
			Functions: nameFunctions,
		}
		m.ResolveLocals(ctx, nil)
		m.static = ctx
	}
	v, diags := expr.Value(m.static)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	return v, true
}

// stringAttr is attribute name of b as tfsec's adapters read it: "" when absent or null,
// known false when it depends on something outside the module.
func (m *Module) stringAttr(b *hclsyntax.Block, name string) (s string, known bool) {
	a := attrOf(b, name)
	if a == nil {
		return "", true
	}
	v, ok := m.staticValue(a.Expr)
	if !ok {
		return "", false
	}
	if v.IsNull() || v.Type() != cty.String {
		return "", v.IsNull()
	}
	return v.AsString(), true
}

// boolAttr is attribute name of b, def when absent; known false as for stringAttr.
func (m *Module) boolAttr(b *hclsyntax.Block, name string, def bool) (val, known bool) {
	a := attrOf(b, name)
	if a == nil {
		return def, true
	}
	v, ok := m.staticValue(a.Expr)
	if !ok || v.IsNull() || v.Type() != cty.Bool {
		return def, ok && v.IsNull()
	}
	return v.True(), true
}

// refersTo reports whether expr refers to resource typ.name (any attribute, any instance).
func refersTo(expr hclsyntax.Expression, typ, name string) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() == typ && len(tr) > 1 {
			if a, ok := tr[1].(hcl.TraverseAttr); ok && a.Name == name {
				return true
			}
		}
	}
	return false
}
