package infracheck

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// StyleRules are the rules of tflint v0.61.0's bundled terraform ruleset (v0.14.1) with
// infra/.tflint.hcl's `preset = "all"`: all twenty, each under its tflint name, with the
// ruleset's default options. The source and the documentation of rule <name> are
// https://github.com/terraform-linters/tflint-ruleset-terraform/blob/v0.14.1/rules/<name>.go
// and .../blob/v0.14.1/docs/rules/<name>.md. tflint with call_module_type = "none" and
// --recursive checks each directory as a root module, as these do.
var StyleRules = []Rule{
	{ID: "terraform_comment_syntax", Check: commentSyntax},
	{ID: "terraform_deprecated_index", Check: deprecatedIndex},
	{ID: "terraform_deprecated_interpolation", Check: deprecatedInterpolation},
	{ID: "terraform_deprecated_lookup", Check: deprecatedLookup},
	{ID: "terraform_documented_outputs", Check: documented("output")},
	{ID: "terraform_documented_variables", Check: documented("variable")},
	{ID: "terraform_empty_list_equality", Check: emptyListEquality},
	{ID: "terraform_json_syntax", Check: jsonSyntax},
	{ID: "terraform_map_duplicate_keys", Check: mapDuplicateKeys},
	{ID: "terraform_module_pinned_source", Check: modulePinnedSource},
	{ID: "terraform_module_shallow_clone", Check: moduleShallowClone},
	{ID: "terraform_module_version", Check: moduleVersion},
	{ID: "terraform_naming_convention", Check: namingConvention},
	{ID: "terraform_required_providers", Check: requiredProviders},
	{ID: "terraform_required_version", Check: requiredVersion},
	{ID: "terraform_standard_module_structure", Check: standardModuleStructure},
	{ID: "terraform_typed_variables", Check: typedVariables},
	{ID: "terraform_unused_declarations", Check: unusedDeclarations},
	{ID: "terraform_unused_required_providers", Check: unusedRequiredProviders},
	{ID: "terraform_workspace_remote", Check: workspaceRemote},
}

func init() {
	for i := range StyleRules {
		StyleRules[i].Severity, StyleRules[i].Enforced = Warning, true // check-terraform failed on any tflint warning
	}
}

func at(rng hcl.Range, msg string, args ...any) Finding {
	return Finding{Range: rng, Message: fmt.Sprintf(msg, args...)}
}

func commentSyntax(m *Module) []Finding {
	var out []Finding
	for _, name := range m.files() {
		tokens, _ := hclsyntax.LexConfig(m.src[name], name, hcl.InitialPos)
		for _, t := range tokens {
			if t.Type == hclsyntax.TokenComment && strings.HasPrefix(string(t.Bytes), "//") {
				out = append(out, at(t.Range, "single-line comments begin with #, not //: write # here"))
			}
		}
	}
	return out
}

func deprecatedIndex(m *Module) []Finding {
	var out []Finding
	legacy := func(tr hcl.Traversal) {
		for _, step := range tr {
			if ix, ok := step.(hcl.TraverseIndex); ok && strings.HasPrefix(m.Text(ix.SrcRange), ".") {
				out = append(out, at(ix.SrcRange, "list items are accessed with square brackets: write [%s] for %s", strings.TrimPrefix(m.Text(ix.SrcRange), "."), m.Text(ix.SrcRange)))
			}
		}
	}
	m.walk(func(e hclsyntax.Expression) {
		switch e := e.(type) {
		case *hclsyntax.ScopeTraversalExpr:
			legacy(e.Traversal)
		case *hclsyntax.RelativeTraversalExpr:
			legacy(e.Traversal)
		case *hclsyntax.SplatExpr:
			if strings.HasPrefix(m.Text(e.MarkerRange), ".") {
				out = append(out, at(e.MarkerRange, "list items are accessed with square brackets: write [*] for .*"))
			}
		}
	})
	return out
}

func deprecatedInterpolation(m *Module) []Finding {
	var out []Finding
	m.walk(func(e hclsyntax.Expression) {
		if w, ok := e.(*hclsyntax.TemplateWrapExpr); ok {
			out = append(out, at(w.Range(), "interpolation-only expressions are deprecated since Terraform 0.12.14: write %s without \"${ }\"", m.Text(w.Wrapped.Range())))
		}
	})
	return out
}

func deprecatedLookup(m *Module) []Finding {
	var out []Finding
	m.walk(func(e hclsyntax.Expression) {
		if c, ok := e.(*hclsyntax.FunctionCallExpr); ok && c.Name == "lookup" && len(c.Args) == 2 {
			out = append(out, at(c.Range(), "lookup with 2 arguments is deprecated: write %s[%s]", m.Text(c.Args[0].Range()), m.Text(c.Args[1].Range())))
		}
	})
	return out
}

func documented(typ string) func(m *Module) []Finding {
	return func(m *Module) []Finding {
		var out []Finding
		for _, b := range m.Find(typ) {
			if d, known := m.stringAttr(b, "description"); known && d == "" {
				out = append(out, at(b.DefRange(), "%s %q has no description: add description = \"...\" saying what it is for", typ, b.Labels[0]))
			}
		}
		return out
	}
}

func emptyListEquality(m *Module) []Finding {
	var out []Finding
	m.walk(func(e hclsyntax.Expression) {
		op, ok := e.(*hclsyntax.BinaryOpExpr)
		if !ok || (op.Op != hclsyntax.OpEqual && op.Op != hclsyntax.OpNotEqual) {
			return
		}
		for _, pair := range [][2]hclsyntax.Expression{{op.LHS, op.RHS}, {op.RHS, op.LHS}} {
			if t, ok := pair[0].(*hclsyntax.TupleConsExpr); ok && len(t.Exprs) == 0 {
				sym := map[bool]string{true: "==", false: "!="}[op.Op == hclsyntax.OpEqual]
				out = append(out, at(op.Range(), "comparing a collection with an empty list is always false: write length(%s) %s 0", m.Text(pair[1].Range()), sym))
				return
			}
		}
	})
	return out
}

// jsonSyntax reads the module's .tf.json files, which LoadModule does not parse.
func jsonSyntax(m *Module) []Finding {
	paths, _ := filepath.Glob(filepath.Join(m.Dir, "*.tf.json"))
	var out []Finding
	for _, p := range paths {
		src, err := os.ReadFile(p)
		var root any
		if err != nil || json.Unmarshal(src, &root) != nil {
			continue
		}
		if _, isArray := root.([]any); isArray {
			out = append(out, at(hcl.Range{Filename: p, Start: hcl.InitialPos}, "JSON configuration uses an array at its root: write one object"))
		}
	}
	return out
}

func mapDuplicateKeys(m *Module) []Finding {
	var out []Finding
	m.walk(func(e hclsyntax.Expression) {
		obj, ok := e.(*hclsyntax.ObjectConsExpr)
		if !ok {
			return
		}
		seen := map[string]hcl.Range{}
		for _, item := range obj.Items {
			k := item.KeyExpr.(*hclsyntax.ObjectConsKeyExpr)
			key := hcl.ExprAsKeyword(k.Wrapped)
			if key == "" || k.ForceNonLiteral {
				v, diags := k.Wrapped.Value(nil)
				if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
					continue
				}
				key = v.AsString()
			}
			if first, dup := seen[key]; dup {
				out = append(out, at(k.Range(), "duplicate key %q, first defined at line %d: the last one silently wins; keep one", key, first.Start.Line))
				continue
			}
			seen[key] = k.Range()
		}
	})
	return out
}

// moduleSource is a module call's source, classified as Terraform's module installer does
// (https://developer.hashicorp.com/terraform/language/modules/sources).
type moduleSource struct {
	call     *hclsyntax.Block
	raw      string
	kind     string // local, registry, git, hg, other
	query    url.Values
	hasHost  bool
	versions bool // a version argument is set
}

var registrySource = regexp.MustCompile(`^([a-zA-Z0-9.-]+\.[a-z]+/)?[0-9A-Za-z][0-9A-Za-z_-]*/[0-9A-Za-z][0-9A-Za-z_-]*/[0-9a-z]+(//.*)?$`)

func moduleSources(m *Module) []moduleSource {
	var out []moduleSource
	for _, call := range m.Find("module") {
		src, known := m.stringAttr(call, "source")
		if !known || src == "" {
			continue
		}
		s := moduleSource{call: call, raw: src, kind: "other", versions: attrOf(call, "version") != nil}
		u := src
		switch {
		case strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../"):
			s.kind = "local"
		case strings.HasPrefix(src, "git::") || strings.HasPrefix(src, "github.com/") || strings.HasPrefix(src, "git@") || strings.HasPrefix(src, "bitbucket.org/"):
			s.kind = "git"
			u = strings.TrimPrefix(u, "git::")
			if strings.HasPrefix(u, "git@") { // scp-like: git@host:path
				u = "ssh://" + strings.Replace(u, ":", "/", 1)
			} else if !strings.Contains(u, "://") {
				u = "https://" + u
			}
		case strings.HasPrefix(src, "hg::"):
			s.kind, u = "hg", strings.TrimPrefix(u, "hg::")
		case registrySource.MatchString(src):
			s.kind = "registry"
		}
		if parsed, err := url.Parse(u); err == nil {
			s.query, s.hasHost = parsed.Query(), parsed.Hostname() != ""
		}
		out = append(out, s)
	}
	return out
}

var defaultBranches = []string{"master", "main", "default", "develop"}

func modulePinnedSource(m *Module) []Finding {
	var out []Finding
	for _, s := range moduleSources(m) {
		if s.kind != "git" && s.kind != "hg" {
			continue
		}
		rng := s.call.Body.Attributes["source"].Expr.Range()
		if !s.hasHost {
			out = append(out, at(rng, "module source %q is not a valid URL", s.raw))
			continue
		}
		ref := s.query.Get("ref")
		key := "ref"
		if ref == "" {
			ref, key = s.query.Get("rev"), "rev"
		}
		switch {
		case ref == "":
			out = append(out, at(rng, "module source %q is not pinned: add ?ref=<tag or commit>", s.raw))
		case strings.Contains(strings.Join(defaultBranches, " ")+" ", ref+" "):
			out = append(out, at(rng, "module source %q uses the default branch %s as %s: pin a tag or commit", s.raw, ref, key))
		}
	}
	return out
}

var gitCommit = regexp.MustCompile(`^[a-f0-9]{4,64}$`)

func moduleShallowClone(m *Module) []Finding {
	var out []Finding
	for _, s := range moduleSources(m) {
		if s.kind != "git" || !s.hasHost {
			continue
		}
		if ref := s.query.Get("ref"); ref != "" && !gitCommit.MatchString(ref) && s.query.Get("depth") != "1" {
			out = append(out, at(s.call.Body.Attributes["source"].Expr.Range(), "module source %q should clone shallowly: add depth=1 to its query", s.raw))
		}
	}
	return out
}

func moduleVersion(m *Module) []Finding {
	var out []Finding
	for _, s := range moduleSources(m) {
		if s.kind == "registry" && !s.versions {
			out = append(out, at(s.call.DefRange(), "module %q comes from a registry without a version: add version = \"<constraint>\"", s.call.Labels[0]))
		}
	}
	return out
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

func namingConvention(m *Module) []Finding {
	var out []Finding
	check := func(kind, name string, rng hcl.Range) {
		if !snakeCase.MatchString(name) {
			out = append(out, at(rng, "%s name %q must be snake_case (lower-case words joined by _): rename it", kind, name))
		}
	}
	for _, b := range m.Blocks {
		switch b.Type {
		case "data", "resource":
			check(b.Type, b.Labels[1], b.DefRange())
		case "module", "output", "variable", "check":
			check(b.Type, b.Labels[0], b.DefRange())
		case "locals":
			for name, a := range b.Body.Attributes {
				check("local value", name, a.NameRange)
			}
		}
		if b.Type == "check" {
			for _, d := range b.Body.Blocks {
				if d.Type == "data" {
					check("data", d.Labels[1], d.DefRange())
				}
			}
		}
	}
	return out
}

// providerRefs lists the providers the module uses, as tflint's GetProviderRefs finds them:
// a resource's or data source's provider argument or its type's prefix, provider blocks, and
// the providers a module call passes.
func providerRefs(m *Module) map[string]hcl.Range {
	refs := map[string]hcl.Range{}
	provider := func(expr hclsyntax.Expression) string {
		if tr, diags := hcl.AbsTraversalForExpr(expr); !diags.HasErrors() {
			return tr.RootName()
		}
		return ""
	}
	blocks := m.Blocks
	for _, b := range m.Find("check") {
		blocks = append(blocks, b.Body.Blocks...)
	}
	for _, b := range blocks {
		switch b.Type {
		case "resource", "data", "ephemeral":
			name := strings.SplitN(b.Labels[0], "_", 2)[0]
			if a := attrOf(b, "provider"); a != nil {
				name = provider(a.Expr)
			}
			refs[name] = b.DefRange()
		case "provider":
			refs[b.Labels[0]] = b.DefRange()
		case "module":
			if a := attrOf(b, "providers"); a != nil {
				pairs, _ := hcl.ExprMap(a.Expr)
				for _, p := range pairs {
					refs[provider(p.Value.(hclsyntax.Expression))] = b.DefRange()
				}
			}
		}
	}
	delete(refs, "")
	return refs
}

// requiredProviderAttrs are the entries of the module's terraform { required_providers {} }.
func requiredProviderAttrs(m *Module) map[string]*hclsyntax.Attribute {
	out := map[string]*hclsyntax.Attribute{}
	for _, tf := range m.Find("terraform") {
		for _, rp := range tf.Body.Blocks {
			if rp.Type == "required_providers" {
				for name, a := range rp.Body.Attributes {
					out[name] = a
				}
			}
		}
	}
	return out
}

func requiredProviders(m *Module) []Finding {
	var out []Finding
	for _, p := range m.Find("provider") {
		if attrOf(p, "version") != nil {
			out = append(out, at(p.DefRange(), "provider %q sets its version here: constrain it in terraform { required_providers } instead", p.Labels[0]))
		}
	}
	required := requiredProviderAttrs(m)
	for name, rng := range providerRefs(m) {
		if name == "terraform" {
			continue
		}
		a, ok := required[name]
		if !ok {
			out = append(out, at(rng, "provider %q has no version constraint: add it to terraform { required_providers } with source and version", name))
			continue
		}
		obj, isObj := a.Expr.(*hclsyntax.ObjectConsExpr)
		if !isObj {
			out = append(out, at(a.Expr.Range(), "provider %q has a legacy version constraint: write %s = { source = \"hashicorp/%s\", version = ... }", name, name, name))
			continue
		}
		keys := map[string]hclsyntax.Expression{}
		for _, item := range obj.Items {
			keys[hcl.ExprAsKeyword(item.KeyExpr)] = item.ValueExpr
		}
		if src, ok := keys["source"]; ok {
			if v, diags := src.Value(nil); !diags.HasErrors() && v.Type() == cty.String && strings.HasPrefix(v.AsString(), "terraform.io/builtin/") {
				continue
			}
		} else {
			out = append(out, at(a.Expr.Range(), "provider %q has no source in required_providers: add source = \"hashicorp/%s\"", name, name))
		}
		if _, ok := keys["version"]; !ok {
			out = append(out, at(a.Expr.Range(), "provider %q has no version constraint in required_providers: add version = \"...\"", name))
		}
	}
	return out
}

func requiredVersion(m *Module) []Finding {
	tfs := m.Find("terraform")
	for _, tf := range tfs {
		if attrOf(tf, "required_version") != nil {
			return nil
		}
	}
	rng := hcl.Range{Filename: filepath.Join(m.Dir, "versions.tf"), Start: hcl.InitialPos}
	if len(tfs) > 0 {
		rng = tfs[0].DefRange()
	}
	return []Finding{at(rng, "the module has no terraform { required_version }: add one")}
}

func standardModuleStructure(m *Module) []Finding {
	if len(m.src) == 0 {
		return nil
	}
	var out []Finding
	has := map[string]bool{}
	for _, f := range m.files() {
		has[filepath.Base(f)] = true
	}
	if !has["main.tf"] {
		out = append(out, at(hcl.Range{Filename: filepath.Join(m.Dir, "main.tf")}, "the module has no main.tf: add it as the primary entrypoint"))
	}
	for typ, file := range map[string]string{"variable": "variables.tf", "output": "outputs.tf"} {
		blocks := m.Find(typ)
		if !has[file] && len(blocks) == 0 {
			out = append(out, at(hcl.Range{Filename: filepath.Join(m.Dir, file)}, "the module has no %s: add an empty one", file))
		}
		for _, b := range blocks {
			if filepath.Base(b.DefRange().Filename) != file {
				out = append(out, at(b.DefRange(), "%s %q is in %s: move it to %s", typ, b.Labels[0], filepath.Base(b.DefRange().Filename), file))
			}
		}
	}
	return out
}

func typedVariables(m *Module) []Finding {
	var out []Finding
	for _, v := range m.Find("variable") {
		if attrOf(v, "type") == nil {
			out = append(out, at(v.DefRange(), "variable %q has no type: add type = ...", v.Labels[0]))
		}
	}
	return out
}

func unusedDeclarations(m *Module) []Finding {
	vars, data, locals, aliases := map[string]*hclsyntax.Block{}, map[string]*hclsyntax.Block{}, map[string]hcl.Range{}, map[string]*hclsyntax.Block{}
	for _, b := range m.Blocks {
		switch b.Type {
		case "variable":
			vars[b.Labels[0]] = b
		case "data":
			data[b.Labels[0]+"."+b.Labels[1]] = b
		case "check":
			for _, d := range b.Body.Blocks {
				if d.Type == "data" {
					data[d.Labels[0]+"."+d.Labels[1]] = d
				}
			}
		case "locals":
			for name, a := range b.Body.Attributes {
				locals[name] = a.NameRange
			}
		case "provider":
			if alias, known := m.stringAttr(b, "alias"); known && alias != "" {
				aliases[b.Labels[0]+"."+alias] = b
			}
		}
	}
	// A reference from a variable's own validation does not use it (tflint's ReferenceLoop).
	ownValidation := func(name string, rng hcl.Range) bool {
		v := vars[name]
		if v == nil {
			return false
		}
		for _, val := range v.Body.Blocks {
			if val.Type == "validation" && val.Body.SrcRange.Overlaps(rng) {
				return true
			}
		}
		return false
	}
	m.walk(func(e hclsyntax.Expression) {
		if tr, diags := hcl.AbsTraversalForExpr(e); !diags.HasErrors() && len(tr) == 2 {
			if a, ok := tr[1].(hcl.TraverseAttr); ok {
				delete(aliases, tr.RootName()+"."+a.Name)
			}
		}
		st, ok := e.(*hclsyntax.ScopeTraversalExpr)
		if !ok || len(st.Traversal) < 2 {
			return
		}
		tr := st.Traversal
		name := func(i int) string {
			if i < len(tr) {
				if a, ok := tr[i].(hcl.TraverseAttr); ok {
					return a.Name
				}
			}
			return ""
		}
		switch tr.RootName() {
		case "var":
			if !ownValidation(name(1), st.Range()) {
				delete(vars, name(1))
			}
		case "local":
			delete(locals, name(1))
		case "data":
			delete(data, name(1)+"."+name(2))
		}
	})
	var out []Finding
	for name, v := range vars {
		out = append(out, at(v.DefRange(), "variable %q is declared but not used: remove it, or use it", name))
	}
	for name, d := range data {
		out = append(out, at(d.DefRange(), "data %q is declared but not used: remove it", name))
	}
	for name, rng := range locals {
		out = append(out, at(rng, "local.%s is declared but not used: remove it", name))
	}
	for name, p := range aliases {
		out = append(out, at(p.DefRange(), "provider %s is declared but not used: remove it", name))
	}
	return out
}

func unusedRequiredProviders(m *Module) []Finding {
	refs := providerRefs(m)
	var out []Finding
	for name, a := range requiredProviderAttrs(m) {
		if _, used := refs[name]; !used {
			out = append(out, at(a.SrcRange, "provider %q is in required_providers but the module uses none of it: remove it", name))
		}
	}
	return out
}

// workspaceRemote: with a "remote" backend, terraform.workspace is always "default" on
// Terraform < 1.1 (tflint reports it whenever required_version admits such a version; with no
// version parser here, any use beside a remote backend is reported).
func workspaceRemote(m *Module) []Finding {
	remote := false
	for _, tf := range m.Find("terraform") {
		for _, b := range tf.Body.Blocks {
			remote = remote || (b.Type == "backend" && len(b.Labels) > 0 && b.Labels[0] == "remote")
		}
	}
	if !remote {
		return nil
	}
	var out []Finding
	m.walk(func(e hclsyntax.Expression) {
		if st, ok := e.(*hclsyntax.ScopeTraversalExpr); ok && st.Traversal.RootName() == "terraform" && len(st.Traversal) > 1 {
			if a, ok := st.Traversal[1].(hcl.TraverseAttr); ok && a.Name == "workspace" {
				out = append(out, at(st.Range(), "terraform.workspace is not the workspace name with a remote backend: use a variable"))
			}
		}
	})
	return out
}
