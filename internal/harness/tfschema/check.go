package tfschema

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/keyrotor/keyrotor/internal/harness/infracheck"
)

// Module is one directory of .tf files.
type Module struct {
	Dir    string
	Blocks []*hclsyntax.Block
}

// LoadModule parses every .tf file of dir, as infracheck does.
func LoadModule(dir string) (*Module, error) {
	m, err := infracheck.LoadModule(dir)
	if err != nil {
		return nil, err
	}
	return &Module{Dir: dir, Blocks: m.Blocks}, nil
}

// Types lists the "resource:<type>" and "data:<type>" a module declares.
func (m *Module) Types() []string {
	var out []string
	for _, b := range m.Blocks {
		if (b.Type == "resource" || b.Type == "data") && len(b.Labels) == 2 {
			out = append(out, b.Type+":"+b.Labels[0])
		}
	}
	return out
}

// Problem is one mistake, where it is.
type Problem struct {
	At  hcl.Range
	Msg string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s", p.At.Filename, p.At.Start.Line, p.Msg)
}

// Report is what Check found.
type Report struct {
	Resources int // resource and data blocks checked against the schema
	Arguments int // arguments and blocks checked inside them, nested ones included
	Problems  []Problem
}

// terraformData is the schema of Terraform's built-in terraform_data resource
// (https://developer.hashicorp.com/terraform/language/resources/terraform-data): input and
// triggers_replace take any value; id and output are read-only.
var terraformData = &Block{
	Attributes: map[string]*Attribute{
		"input":            {typ: cty.DynamicPseudoType},
		"triggers_replace": {typ: cty.DynamicPseudoType},
		"id":               {typ: cty.String, ComputedOnly: true},
		"output":           {typ: cty.DynamicPseudoType, ComputedOnly: true},
	},
	Blocks: map[string]*NestedBlock{},
}

// Meta-arguments Terraform itself takes in resource and data blocks
// (https://developer.hashicorp.com/terraform/language/meta-arguments).
var (
	metaArguments = map[string]bool{"count": true, "for_each": true, "provider": true, "depends_on": true}
	metaBlocks    = map[string]bool{"lifecycle": true, "provisioner": true, "connection": true}
	moduleMeta    = map[string]bool{"source": true, "version": true, "providers": true, "count": true, "for_each": true, "depends_on": true}
)

type checker struct {
	schema  *Schema
	report  *Report
	modules map[string]*Module // by directory
}

// Check checks the module in dir and every local module it calls.
func Check(s *Schema, dir string) (Report, error) {
	c := &checker{schema: s, report: &Report{}, modules: map[string]*Module{}}
	if err := c.module(dir); err != nil {
		return Report{}, err
	}
	return *c.report, nil
}

func (c *checker) problem(at hcl.Range, format string, args ...any) {
	c.report.Problems = append(c.report.Problems, Problem{At: at, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) load(dir string) (*Module, error) {
	dir = filepath.Clean(dir)
	if m, ok := c.modules[dir]; ok {
		return m, nil
	}
	m, err := LoadModule(dir)
	if err != nil {
		return nil, err
	}
	c.modules[dir] = m
	return m, nil
}

// decls is what a module declares, for resolving references.
type decls struct {
	vars      map[string]*hclsyntax.Block
	locals    map[string]bool
	resources map[string]string // "type.name" → type
	data      map[string]string
	modules   map[string]*Module // nil when the source is not local
	outputs   map[string]bool
	// providers are the provider configurations a resource or a module call may name:
	// "aws" (the default, always there), "aws.<alias>" of each provider block with an alias
	// and of each configuration_aliases entry of required_providers.
	providers map[string]bool
	// aliases are the configuration_aliases the module declares: a caller must pass each
	// (https://developer.hashicorp.com/terraform/language/meta-arguments/module-providers).
	aliases []string
}

func declare(m *Module) decls {
	d := decls{vars: map[string]*hclsyntax.Block{}, locals: map[string]bool{}, resources: map[string]string{}, data: map[string]string{}, modules: map[string]*Module{}, outputs: map[string]bool{}, providers: map[string]bool{"aws": true}}
	for _, b := range m.Blocks {
		switch {
		case b.Type == "provider" && len(b.Labels) == 1:
			d.providers[b.Labels[0]] = true
			if a, ok := b.Body.Attributes["alias"]; ok {
				if v, diags := a.Expr.Value(nil); !diags.HasErrors() && v.Type() == cty.String {
					d.providers[b.Labels[0]+"."+v.AsString()] = true
				}
			}
		case b.Type == "terraform":
			for _, rp := range b.Body.Blocks {
				if rp.Type != "required_providers" {
					continue
				}
				for name, a := range rp.Body.Attributes {
					d.providers[name] = true
					obj, ok := a.Expr.(*hclsyntax.ObjectConsExpr)
					if !ok {
						continue
					}
					for _, item := range obj.Items {
						if hcl.ExprAsKeyword(item.KeyExpr) != "configuration_aliases" {
							continue
						}
						if list, ok := item.ValueExpr.(*hclsyntax.TupleConsExpr); ok {
							for _, e := range list.Exprs {
								if ref, ok := providerRef(e); ok {
									d.providers[ref] = true
									d.aliases = append(d.aliases, ref)
								}
							}
						}
					}
				}
			}
		case b.Type == "variable" && len(b.Labels) == 1:
			d.vars[b.Labels[0]] = b
		case b.Type == "locals":
			for name := range b.Body.Attributes {
				d.locals[name] = true
			}
		case b.Type == "resource" && len(b.Labels) == 2:
			d.resources[b.Labels[0]+"."+b.Labels[1]] = b.Labels[0]
		case b.Type == "data" && len(b.Labels) == 2:
			d.data[b.Labels[0]+"."+b.Labels[1]] = b.Labels[0]
		case b.Type == "output" && len(b.Labels) == 1:
			d.outputs[b.Labels[0]] = true
		}
	}
	return d
}

func (c *checker) module(dir string) error {
	if _, done := c.modules[filepath.Clean(dir)]; done {
		return nil
	}
	m, err := c.load(dir)
	if err != nil {
		return err
	}
	d := declare(m)
	// Module calls first, so references to their outputs can be checked.
	for _, b := range m.Blocks {
		if b.Type != "module" || len(b.Labels) != 1 {
			continue
		}
		callee, err := c.moduleCall(m, b)
		if err != nil {
			return err
		}
		d.modules[b.Labels[0]] = callee
	}
	for _, b := range m.Blocks {
		switch b.Type {
		case "variable":
			// terraform validate: a default must have the variable's type.
			if d, ok := b.Body.Attributes["default"]; ok {
				c.report.Arguments++
				c.typed(d, variableType(b), "variable "+b.Labels[0]+" default")
			}
		case "resource", "data":
			if len(b.Labels) != 2 {
				c.problem(b.DefRange(), "%s block needs a type and a name", b.Type)
				continue
			}
			schema := c.blockSchema(b.Type, b.Labels[0])
			if schema == nil {
				kind := "resource type"
				if b.Type == "data" {
					kind = "data source"
				}
				c.problem(b.LabelRanges[0], "%s %q does not exist in %s %s", kind, b.Labels[0], c.schema.Provider, c.schema.Version)
				continue
			}
			c.report.Resources++
			c.body(b.Body, schema, b.Labels[0]+"."+b.Labels[1], true)
		}
	}
	c.references(m, d)
	c.cycles(m)
	return nil
}

// cycles reports each dependency cycle among the module's resources, data sources, locals and
// module calls, which Terraform refuses before planning anything (terraform validate: "Error:
// Cycle: ..."). As in Terraform's graph, a local is one node however many values it holds, and
// a resource one node for its for_each or count and its arguments alike: a for_each over a
// local that refers to a resource refers to that resource. A module call is one node here
// (Terraform splits it by variable and output), so a cycle through a call may be reported that
// Terraform would not; none inside a module is missed, and each called module is checked too.
func (c *checker) cycles(m *Module) {
	deps := map[string][]string{}
	at := map[string]hcl.Range{}
	node := func(tr hcl.Traversal) string {
		first, ok := attrName(tr, 1)
		if !ok {
			return ""
		}
		switch root := tr.RootName(); root {
		case "local", "module":
			return root + "." + first
		case "data":
			second, _ := attrName(tr, 2)
			return "data." + first + "." + second
		case "var", "each", "count", "self", "path", "terraform":
			return ""
		default:
			return root + "." + first
		}
	}
	refs := func(name string, body *hclsyntax.Body, rng hcl.Range, skip ...string) {
		at[name] = rng
		c.walk(body, map[string]bool{}, func(tr hcl.Traversal, roots map[string]bool) {
			if n := node(tr); n != "" && !roots[tr.RootName()] && !slices.Contains(deps[name], n) {
				deps[name] = append(deps[name], n)
			}
		}, skip...)
	}
	for _, b := range m.Blocks {
		switch {
		case b.Type == "resource" && len(b.Labels) == 2:
			refs(b.Labels[0]+"."+b.Labels[1], b.Body, b.DefRange(), "provider")
		case b.Type == "data" && len(b.Labels) == 2:
			refs("data."+b.Labels[0]+"."+b.Labels[1], b.Body, b.DefRange(), "provider")
		case b.Type == "module" && len(b.Labels) == 1:
			refs("module."+b.Labels[0], b.Body, b.DefRange(), "providers")
		case b.Type == "locals":
			for name, a := range b.Body.Attributes {
				body := &hclsyntax.Body{Attributes: hclsyntax.Attributes{name: a}}
				refs("local."+name, body, a.SrcRange)
			}
		}
	}
	nodes := slices.Sorted(maps.Keys(deps))
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var path []string
	reported := map[string]bool{}
	var visit func(n string)
	visit = func(n string) {
		state[n] = open
		path = append(path, n)
		next := slices.Clone(deps[n])
		slices.Sort(next)
		for _, d := range next {
			if _, declared := deps[d]; !declared {
				continue // a reference to nothing declared: references() reports it
			}
			switch state[d] {
			case unseen:
				visit(d)
			case open:
				cycle := slices.Clone(path[slices.Index(path, d):])
				key := slices.Sorted(slices.Values(cycle))
				if k := strings.Join(key, " "); !reported[k] {
					reported[k] = true
					c.problem(at[d], "dependency cycle, each refers to the next: %s -> %s (Terraform plans nothing: terraform validate reports Error: Cycle)", strings.Join(cycle, " -> "), d)
				}
			}
		}
		path = path[:len(path)-1]
		state[n] = done
	}
	for _, n := range nodes {
		if state[n] == unseen {
			visit(n)
		}
	}
}

func (c *checker) blockSchema(kind, typ string) *Block {
	if kind == "resource" && typ == "terraform_data" {
		return terraformData
	}
	if kind == "data" {
		return c.schema.DataSources[typ]
	}
	return c.schema.Resources[typ]
}

// moduleCall checks that a call passes exactly the callee's variables, every required one.
func (c *checker) moduleCall(m *Module, b *hclsyntax.Block) (*Module, error) {
	src, ok := b.Body.Attributes["source"]
	if !ok {
		c.problem(b.DefRange(), "module %s has no source", b.Labels[0])
		return nil, nil
	}
	v, diags := src.Expr.Value(nil)
	if diags.HasErrors() || v.Type() != cty.String {
		c.problem(src.Range(), "module %s: source must be a literal string", b.Labels[0])
		return nil, nil
	}
	source := v.AsString()
	if !strings.HasPrefix(source, "./") && !strings.HasPrefix(source, "../") {
		return nil, nil // a registry or git module: not on disk to check against
	}
	dir := filepath.Join(m.Dir, source)
	if err := c.module(dir); err != nil {
		return nil, fmt.Errorf("module %s (%s): %w", b.Labels[0], source, err)
	}
	callee := c.modules[filepath.Clean(dir)]
	vars := declare(callee).vars
	for name, a := range b.Body.Attributes {
		if moduleMeta[name] {
			continue
		}
		c.report.Arguments++
		v, ok := vars[name]
		if !ok {
			c.problem(a.NameRange, "module %s: %s declares no variable %q", b.Labels[0], source, name)
			continue
		}
		c.typed(a, variableType(v), "module "+b.Labels[0]+" argument "+name)
	}
	var names []string
	for name := range vars {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		_, hasDefault := vars[name].Body.Attributes["default"]
		if _, passed := b.Body.Attributes[name]; !hasDefault && !passed {
			c.problem(b.DefRange(), "module %s: required variable %q of %s is not set", b.Labels[0], name, source)
		}
	}
	return callee, nil
}

// body checks a resource's or a block's content against its schema.
func (c *checker) body(body *hclsyntax.Body, s *Block, where string, top bool) {
	for name, a := range body.Attributes {
		if top && metaArguments[name] {
			continue
		}
		c.report.Arguments++
		attr, ok := s.Attributes[name]
		switch {
		case ok && attr.ComputedOnly:
			c.problem(a.NameRange, "%s: %s is read-only (computed by the provider) and cannot be set", where, name)
		case ok:
			c.value(a, attr.Type(), where)
		case s.Blocks[name] != nil:
			c.problem(a.NameRange, "%s: %s is a block: write %s { ... }, not %s = ...", where, name, name, name)
		default:
			c.problem(a.NameRange, "%s: unsupported argument %q", where, name)
		}
	}
	seen := map[string]int{}
	dynamic := map[string]bool{}
	for _, b := range body.Blocks {
		if top && metaBlocks[b.Type] {
			continue
		}
		name, content := b.Type, b.Body
		if b.Type == "dynamic" && len(b.Labels) == 1 {
			name, content = b.Labels[0], nil
			for _, cb := range b.Body.Blocks {
				if cb.Type == "content" {
					content = cb.Body
				}
			}
			dynamic[name] = true
		}
		c.report.Arguments++
		nb, ok := s.Blocks[name]
		if !ok {
			if _, isAttr := s.Attributes[name]; isAttr {
				c.problem(b.DefRange(), "%s: %s is an argument: write %s = ..., not a block", where, name, name)
			} else {
				c.problem(b.DefRange(), "%s: unsupported block %q", where, name)
			}
			continue
		}
		seen[name]++
		if nb.MaxItems > 0 && seen[name] > nb.MaxItems {
			c.problem(b.DefRange(), "%s: at most %d %s block allowed", where, nb.MaxItems, name)
		}
		if content != nil {
			c.body(content, nb.Block, where+"."+name, false)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Attributes)) {
		if a := s.Attributes[name]; a.Required {
			if _, ok := body.Attributes[name]; !ok {
				c.problem(body.SrcRange, "%s: required argument %q is missing", where, name)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Blocks)) {
		if nb := s.Blocks[name]; nb.MinItems > 0 && seen[name] < nb.MinItems && !dynamic[name] {
			c.problem(body.SrcRange, "%s: required block %q is missing", where, name)
		}
	}
}

// value checks an argument's expression against the schema type: a literal (no reference, no
// function call) must convert to it as Terraform converts it; a tuple or object constructor
// must fit a collection or object type.
func (c *checker) value(a *hclsyntax.Attribute, want cty.Type, where string) {
	if want == cty.DynamicPseudoType {
		return
	}
	if isLiteral(a.Expr) {
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			return
		}
		if _, err := convert.Convert(v, want); err != nil {
			c.problem(a.Expr.Range(), "%s: %s must be %s, not %s (%s)", where, a.Name, want.FriendlyName(), v.Type().FriendlyName(), err)
		}
		return
	}
	switch a.Expr.(type) {
	case *hclsyntax.TupleConsExpr:
		if !want.IsListType() && !want.IsSetType() && !want.IsTupleType() {
			c.problem(a.Expr.Range(), "%s: %s must be %s, not a list", where, a.Name, want.FriendlyName())
		}
	case *hclsyntax.ObjectConsExpr:
		if !want.IsMapType() && !want.IsObjectType() {
			c.problem(a.Expr.Range(), "%s: %s must be %s, not an object", where, a.Name, want.FriendlyName())
		}
	}
}

func isLiteral(e hclsyntax.Expression) bool {
	if len(e.Variables()) > 0 {
		return false
	}
	literal := true
	_ = hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		if _, ok := n.(*hclsyntax.FunctionCallExpr); ok {
			literal = false
		}
		return nil
	})
	return literal
}

// references resolves every var., local., data., module. and resource reference of m, and
// the provider configurations that resources (provider = aws.<alias>) and module calls
// (providers = { aws = aws.<alias> }) name.
func (c *checker) references(m *Module, d decls) {
	for _, b := range m.Blocks {
		roots := map[string]bool{}
		skip := ""
		switch b.Type {
		case "terraform":
			continue // settings: configuration_aliases name provider configurations, not objects
		case "moved":
			c.moved(b, d)
			continue
		case "resource", "data":
			skip = "provider"
			if a, ok := b.Body.Attributes["provider"]; ok {
				c.providerReference(a.Expr, d)
			}
		case "module":
			skip = "providers"
			a, ok := b.Body.Attributes["providers"]
			if ok {
				c.moduleProviders(a.Expr, d, b)
			}
			if callee := d.modules[b.Labels[0]]; callee != nil {
				for _, alias := range declare(callee).aliases {
					if !ok || !passes(a.Expr, alias) {
						c.problem(b.DefRange(), "module %s: the module declares configuration_aliases %s, which the call must pass in providers", b.Labels[0], alias)
					}
				}
			}
		}
		c.walk(b.Body, roots, func(tr hcl.Traversal, roots map[string]bool) {
			c.reference(tr, roots, d, b)
		}, skip)
	}
}

// providerRef reads a provider configuration reference: aws or aws.<alias>.
func providerRef(e hclsyntax.Expression) (string, bool) {
	st, ok := e.(*hclsyntax.ScopeTraversalExpr)
	if !ok {
		return "", false
	}
	switch len(st.Traversal) {
	case 1:
		return st.Traversal.RootName(), true
	case 2:
		if a, ok := st.Traversal[1].(hcl.TraverseAttr); ok {
			return st.Traversal.RootName() + "." + a.Name, true
		}
	}
	return "", false
}

// passes reports whether a providers map passes the configuration key (aws.<alias>).
func passes(e hclsyntax.Expression, key string) bool {
	obj, ok := e.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return false
	}
	for _, item := range obj.Items {
		if k, ok := item.KeyExpr.(*hclsyntax.ObjectConsKeyExpr); ok {
			if ref, ok := providerRef(k.Wrapped); ok && ref == key {
				return true
			}
		}
	}
	return false
}

// providerReference checks that e names a provider configuration declared in the module.
func (c *checker) providerReference(e hclsyntax.Expression, d decls) {
	c.report.Arguments++
	ref, ok := providerRef(e)
	if !ok {
		c.problem(e.Range(), "provider must be a provider configuration reference such as aws.<alias>")
		return
	}
	if !d.providers[ref] {
		c.problem(e.Range(), "provider configuration %s is not declared (no provider block with alias and no configuration_aliases entry)", ref)
	}
}

// moduleProviders checks a module call's providers map: each value names a configuration of
// the caller, each key one the callee may receive (its default or a configuration alias).
func (c *checker) moduleProviders(e hclsyntax.Expression, d decls, call *hclsyntax.Block) {
	obj, ok := e.(*hclsyntax.ObjectConsExpr)
	if !ok {
		c.problem(e.Range(), "module %s: providers must be a map of provider configurations", call.Labels[0])
		return
	}
	var callee map[string]bool
	if m := d.modules[call.Labels[0]]; m != nil {
		callee = declare(m).providers
	}
	for _, item := range obj.Items {
		key, named := "", false
		if k, isKey := item.KeyExpr.(*hclsyntax.ObjectConsKeyExpr); isKey {
			key, named = providerRef(k.Wrapped)
		}
		if !named {
			c.problem(item.KeyExpr.Range(), "module %s: providers key must be a provider name such as aws or aws.<alias>", call.Labels[0])
			continue
		}
		if callee != nil && !callee[key] {
			c.problem(item.KeyExpr.Range(), "module %s: the module receives no provider configuration %s", call.Labels[0], key)
		}
		c.providerReference(item.ValueExpr, d)
	}
}

// walk calls fn for each traversal of every expression under body; roots are the extra names
// in scope (a dynamic block's iterator).
func (c *checker) walk(body *hclsyntax.Body, roots map[string]bool, fn func(hcl.Traversal, map[string]bool), skip ...string) {
	for name, a := range body.Attributes {
		if slices.Contains(skip, name) {
			continue
		}
		for _, tr := range a.Expr.Variables() {
			fn(tr, roots)
		}
	}
	for _, b := range body.Blocks {
		inner := roots
		if b.Type == "dynamic" && len(b.Labels) == 1 {
			inner = map[string]bool{}
			for k := range roots {
				inner[k] = true
			}
			iter := b.Labels[0]
			if it, ok := b.Body.Attributes["iterator"]; ok {
				iter = hcl.ExprAsKeyword(it.Expr)
			}
			inner[iter] = true
		}
		c.walk(b.Body, inner, fn)
	}
}

func attrName(tr hcl.Traversal, i int) (string, bool) {
	if i >= len(tr) {
		return "", false
	}
	switch s := tr[i].(type) {
	case hcl.TraverseAttr:
		return s.Name, true
	case hcl.TraverseRoot:
		return s.Name, true
	}
	return "", false
}

// firstAttrAfter returns the first attribute name at or after i, skipping index steps.
func firstAttrAfter(tr hcl.Traversal, i int) (string, bool) {
	for ; i < len(tr); i++ {
		switch s := tr[i].(type) {
		case hcl.TraverseAttr:
			return s.Name, true
		case hcl.TraverseIndex, hcl.TraverseSplat:
			continue
		default:
			return "", false
		}
	}
	return "", false
}

func (c *checker) reference(tr hcl.Traversal, roots map[string]bool, d decls, in *hclsyntax.Block) {
	root := tr.RootName()
	at := tr.SourceRange()
	name, ok := attrName(tr, 1)
	switch {
	case roots[root]:
		return
	case root == "each" || root == "count" || root == "self" || root == "terraform":
		return
	case root == "path":
		if ok && name != "module" && name != "root" && name != "cwd" {
			c.problem(at, "path.%s does not exist (path.module, path.root or path.cwd)", name)
		}
	case root == "var":
		if ok && d.vars[name] == nil {
			c.problem(at, "reference to undeclared variable var.%s", name)
		}
	case root == "local":
		if ok && !d.locals[name] {
			c.problem(at, "reference to undeclared local.%s", name)
		}
	case root == "module":
		if !ok {
			return
		}
		callee, declared := d.modules[name]
		if !declared {
			c.problem(at, "reference to undeclared module.%s", name)
			return
		}
		if out, ok := firstAttrAfter(tr, 2); ok && callee != nil && !declare(callee).outputs[out] {
			c.problem(at, "module.%s has no output %q", name, out)
		}
	case root == "data":
		typ, _ := attrName(tr, 1)
		n, _ := attrName(tr, 2)
		if _, declared := d.data[typ+"."+n]; !declared {
			c.problem(at, "reference to undeclared data.%s.%s", typ, n)
			return
		}
		c.attribute(at, c.blockSchema("data", typ), "data."+typ+"."+n, tr, 3)
	default:
		if in.Type == "variable" && root != "var" {
			return // a validation's own scope
		}
		if !ok {
			c.problem(at, "unknown reference %s", root)
			return
		}
		if _, declared := d.resources[root+"."+name]; !declared {
			c.problem(at, "reference to undeclared resource %s.%s", root, name)
			return
		}
		c.attribute(at, c.blockSchema("resource", root), root+"."+name, tr, 2)
	}
}

// attribute checks that the attribute a reference reads (after its index) is in the schema.
func (c *checker) attribute(at hcl.Range, s *Block, what string, tr hcl.Traversal, i int) {
	if s == nil {
		return // its block already reported the unknown type
	}
	name, ok := firstAttrAfter(tr, i)
	if !ok {
		return
	}
	if _, isAttr := s.Attributes[name]; isAttr {
		return
	}
	if _, isBlock := s.Blocks[name]; isBlock {
		return
	}
	if name == "id" {
		return // every resource has id
	}
	c.problem(at, "%s has no attribute %q", what, name)
}

// variableType is a variable block's type constraint (any when it has none or it is unreadable).
func variableType(v *hclsyntax.Block) cty.Type {
	a, ok := v.Body.Attributes["type"]
	if !ok {
		return cty.DynamicPseudoType
	}
	t, _, diags := typeexpr.TypeConstraintWithDefaults(a.Expr)
	if diags.HasErrors() {
		return cty.DynamicPseudoType
	}
	return t
}

// typed checks that a literal value converts to want, as Terraform converts a variable's value.
func (c *checker) typed(a *hclsyntax.Attribute, want cty.Type, what string) {
	if want == cty.DynamicPseudoType || !isLiteral(a.Expr) {
		return
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || v.IsNull() {
		return
	}
	if _, err := convert.Convert(v, want); err != nil {
		c.problem(a.Expr.Range(), "%s must be %s, not %s (%s)", what, want.FriendlyName(), v.Type().FriendlyName(), err)
	}
}

// moved checks a moved block (https://developer.hashicorp.com/terraform/language/modules/develop/refactoring).
// As Terraform's plan refuses them (terraform validate does not): from still declared, unless
// from and to are instances of one resource or call (a new or changed key); a resource moved
// to another type (which the AWS provider does not support). Beyond Terraform: to must be
// declared, or the plan destroys the object it has just moved, which a moved block is there
// to prevent.
func (c *checker) moved(b *hclsyntax.Block, d decls) {
	addr := func(name string) (hcl.Traversal, bool) {
		a, ok := b.Body.Attributes[name]
		if !ok {
			c.problem(b.DefRange(), "moved block without %s", name)
			return nil, false
		}
		tr, diags := hcl.AbsTraversalForExpr(a.Expr)
		if diags.HasErrors() || len(tr) < 2 {
			c.problem(a.Expr.Range(), "moved %s must be a resource or module address", name)
			return nil, false
		}
		return tr, true
	}
	from, okFrom := addr("from")
	to, okTo := addr("to")
	if !okFrom || !okTo {
		return
	}
	// object is the resource ("type.name") or module call ("module.name") an address names
	// first, whether this module declares it, and the type of the resource it moves (in a
	// module call for module.<call>.<type>.<name>; "" for a whole module call).
	object := func(tr hcl.Traversal) (obj string, declared bool, typ string) {
		var names []string
		for _, step := range tr[1:] {
			if a, ok := step.(hcl.TraverseAttr); ok {
				names = append(names, a.Name)
			}
		}
		if tr.RootName() != "module" {
			_, declared = d.resources[tr.RootName()+"."+names[0]]
			return tr.RootName() + "." + names[0], declared, tr.RootName()
		}
		_, declared = d.modules[names[0]]
		if len(names) >= 3 {
			typ = names[1]
		}
		return "module." + names[0], declared, typ
	}
	fromObj, fromDeclared, fromType := object(from)
	toObj, toDeclared, toType := object(to)
	switch {
	case !toDeclared:
		c.problem(to.SourceRange(), "moved to %s, which the module does not declare: the plan would destroy what it moves there", toObj)
	case fromDeclared && fromObj != toObj:
		c.problem(from.SourceRange(), "moved from %s, which the module still declares: Terraform refuses the move", fromObj)
	case fromType != toType:
		c.problem(b.DefRange(), "moved from %s to %s: a resource moves to a resource of its type, a module call to a module call", fromObj, toObj)
	}
}
