// Package infracheck reads keyrotor's Terraform (infra/) without Terraform: it parses every
// module with hcl/v2 so that tests can check structure, formatting and the absence of secrets
// where `terraform validate` cannot run (the AWS provider is not available offline).
package infracheck

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Module is one directory of .tf files.
type Module struct {
	Dir    string // absolute
	Blocks []*hclsyntax.Block
	src    map[string][]byte // file name → source
	static *hcl.EvalContext  // built by staticValue on first use
	// eachKey is the for_each key the security rules render a block's policy for.
	eachKey string
}

// Text returns the source text of rng.
func (m *Module) Text(rng hcl.Range) string {
	src := m.src[rng.Filename]
	if rng.End.Byte > len(src) {
		return ""
	}
	return string(src[rng.Start.Byte:rng.End.Byte])
}

// LoadModules parses every directory under root/infra that holds .tf files, keyed by its path
// relative to root (e.g. "infra/modules/engine").
func LoadModules(root string) (map[string]*Module, error) {
	mods := map[string]*Module{}
	files, err := TerraformFiles(root)
	if err != nil {
		return nil, err
	}
	for _, path := range files {
		dir := filepath.Dir(path)
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			return nil, fmt.Errorf("module path of %s: %w", path, err)
		}
		if mods[rel] != nil {
			continue
		}
		if mods[rel], err = LoadModule(dir); err != nil {
			return nil, err
		}
	}
	return mods, nil
}

// LoadModule parses the .tf files of one directory, as LoadModules does each, in name order.
// A directory without one is an error: a module source that names it would be wrong.
func LoadModule(dir string) (*Module, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s holds no .tf file", dir)
	}
	m := &Module{Dir: dir, src: map[string][]byte{}}
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		f, diags := hclsyntax.ParseConfig(src, path, hcl.Pos{Line: 1, Column: 1})
		if diags.HasErrors() {
			return nil, fmt.Errorf("parse %s: %w", path, diags)
		}
		m.src[path] = src
		m.Blocks = append(m.Blocks, f.Body.(*hclsyntax.Body).Blocks...)
	}
	return m, nil
}

// TerraformFiles lists every .tf file under root/infra, sorted.
func TerraformFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(filepath.Join(root, "infra"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".terraform") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".tf") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list Terraform files: %w", err)
	}
	sort.Strings(files)
	return files, nil
}

// FormatProblem reports where src differs from its hclwrite.Format (terraform fmt) form, or ""
// when it is formatted.
func FormatProblem(src []byte) string {
	formatted := hclwrite.Format(src)
	if bytes.Equal(formatted, src) {
		return ""
	}
	got, want := strings.Split(string(src), "\n"), strings.Split(string(formatted), "\n")
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("line %d is %q, formatted it is %q", i+1, got[i], want[i])
		}
	}
	return fmt.Sprintf("has %d lines, formatted %d", len(got), len(want))
}

// Find returns the module's blocks of typ whose first labels equal labels.
func (m *Module) Find(typ string, labels ...string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range m.Blocks {
		if b.Type != typ || len(b.Labels) < len(labels) {
			continue
		}
		match := true
		for i, l := range labels {
			match = match && b.Labels[i] == l
		}
		if match {
			out = append(out, b)
		}
	}
	return out
}

// Local returns the expression of locals' attribute name.
func (m *Module) Local(name string) (hclsyntax.Expression, bool) {
	for _, b := range m.Find("locals") {
		if a, ok := b.Body.Attributes[name]; ok {
			return a.Expr, true
		}
	}
	return nil, false
}

// ObjectKeys returns the keys of an object expression: an object constructor, merge() of such,
// or a reference to a local holding one.
func (m *Module) ObjectKeys(expr hclsyntax.Expression) ([]string, error) {
	switch e := expr.(type) {
	case *hclsyntax.ObjectConsExpr:
		keys := make([]string, 0, len(e.Items))
		for _, item := range e.Items {
			k := hcl.ExprAsKeyword(item.KeyExpr)
			if k == "" {
				return nil, fmt.Errorf("%s: object key is not a plain name", item.KeyExpr.Range())
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return keys, nil
	case *hclsyntax.FunctionCallExpr:
		if e.Name != "merge" {
			return nil, fmt.Errorf("%s: cannot list the keys of %s()", e.Range(), e.Name)
		}
		var keys []string
		for _, arg := range e.Args {
			k, err := m.ObjectKeys(arg)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k...)
		}
		sort.Strings(keys)
		return keys, nil
	case *hclsyntax.ConditionalExpr:
		// cond ? {a = ...} : {}: the keys either branch may hold.
		var keys []string
		for _, branch := range []hclsyntax.Expression{e.TrueResult, e.FalseResult} {
			k, err := m.ObjectKeys(branch)
			if err != nil {
				return nil, err
			}
			for _, key := range k {
				if !slices.Contains(keys, key) {
					keys = append(keys, key)
				}
			}
		}
		sort.Strings(keys)
		return keys, nil
	case *hclsyntax.ScopeTraversalExpr:
		if len(e.Traversal) == 2 && e.Traversal.RootName() == "local" {
			name := e.Traversal[1].(hcl.TraverseAttr).Name
			if local, ok := m.Local(name); ok {
				return m.ObjectKeys(local)
			}
		}
		return nil, fmt.Errorf("%s: cannot resolve the keys of this reference", e.Range())
	}
	return nil, fmt.Errorf("%s: not an object expression", expr.Range())
}

// TemplateCall is one templatefile(path, vars) call, per for_each key when the path uses one.
type TemplateCall struct {
	Path string   // the template, resolved against the module directory
	Vars []string // the names vars sets
	At   hcl.Range
}

// TemplateCalls finds every templatefile call in the module. The path must be
// "${path.module}/..." so that it resolves the same wherever the module is used; a reference in
// the path (${each.key}) is expanded over the keys of the block's for_each.
func (m *Module) TemplateCalls() ([]TemplateCall, error) {
	var calls []TemplateCall
	var firstErr error
	for _, b := range m.Blocks {
		var eachKeys []string
		if fe, ok := b.Body.Attributes["for_each"]; ok {
			eachKeys, _ = m.ObjectKeys(fe.Expr)
		}
		_ = hclsyntax.VisitAll(b.Body, func(n hclsyntax.Node) hcl.Diagnostics {
			call, ok := n.(*hclsyntax.FunctionCallExpr)
			if !ok || call.Name != "templatefile" || firstErr != nil {
				return nil
			}
			tcs, err := m.templateCalls(call, eachKeys)
			if err != nil {
				firstErr = err
				return nil
			}
			calls = append(calls, tcs...)
			return nil
		})
	}
	return calls, firstErr
}

func (m *Module) templateCalls(call *hclsyntax.FunctionCallExpr, eachKeys []string) ([]TemplateCall, error) {
	if len(call.Args) != 2 {
		return nil, fmt.Errorf("%s: templatefile needs a path and a vars object", call.Range())
	}
	tmpl, ok := call.Args[0].(*hclsyntax.TemplateExpr)
	if !ok || len(tmpl.Parts) < 2 {
		return nil, fmt.Errorf("%s: templatefile path must be \"${path.module}/...\"", call.Range())
	}
	head, ok := tmpl.Parts[0].(*hclsyntax.ScopeTraversalExpr)
	if !ok || head.Traversal.RootName() != "path" || len(head.Traversal) != 2 || head.Traversal[1].(hcl.TraverseAttr).Name != "module" {
		return nil, fmt.Errorf("%s: templatefile path must start with ${path.module}", call.Range())
	}
	pattern, keyed := "", false
	for _, p := range tmpl.Parts[1:] {
		switch p := p.(type) {
		case *hclsyntax.LiteralValueExpr:
			pattern += p.Val.AsString()
		case *hclsyntax.ScopeTraversalExpr:
			if p.Traversal.RootName() != "each" {
				return nil, fmt.Errorf("%s: templatefile path may only use each.key", p.Range())
			}
			pattern, keyed = pattern+"\x00", true
		default:
			return nil, fmt.Errorf("%s: unsupported templatefile path part", p.Range())
		}
	}
	vars, err := m.ObjectKeys(call.Args[1])
	if err != nil {
		return nil, err
	}
	if !keyed {
		return []TemplateCall{{Path: filepath.Join(m.Dir, pattern), Vars: vars, At: call.Range()}}, nil
	}
	if len(eachKeys) == 0 {
		return nil, fmt.Errorf("%s: templatefile path uses each.key but the block's for_each keys are unknown", call.Range())
	}
	calls := make([]TemplateCall, 0, len(eachKeys))
	for _, k := range eachKeys {
		calls = append(calls, TemplateCall{Path: filepath.Join(m.Dir, strings.ReplaceAll(pattern, "\x00", k)), Vars: vars, At: call.Range()})
	}
	return calls, nil
}

// References lists the root.name pairs (e.g. "aws_iam_role.function") an expression refers to.
func References(expr hclsyntax.Expression) []string {
	var refs []string
	for _, tr := range expr.Variables() {
		if len(tr) < 2 {
			refs = append(refs, tr.RootName())
			continue
		}
		if attr, ok := tr[1].(hcl.TraverseAttr); ok {
			refs = append(refs, tr.RootName()+"."+attr.Name)
		}
	}
	return refs
}
