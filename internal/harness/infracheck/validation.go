package infracheck

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// validationFunctions are the Terraform functions keyrotor's variable validations use.
var validationFunctions = map[string]function.Function{
	"can":        tryfunc.CanFunc,
	"regex":      stdlib.RegexFunc,
	"contains":   stdlib.ContainsFunc,
	"floor":      stdlib.FloorFunc,
	"length":     lengthFunc,
	"distinct":   stdlib.DistinctFunc,
	"alltrue":    allTrueFunc,
	"fileexists": fileExistsFunc,
}

// fileExistsFunc is Terraform's fileexists (the engine's build_dir validation): true for a
// regular file, false when nothing is there.
var fileExistsFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "path", Type: cty.String}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		st, err := os.Stat(args[0].AsString())
		if errors.Is(err, fs.ErrNotExist) {
			return cty.False, nil
		}
		if err != nil {
			return cty.NilVal, fmt.Errorf("fileexists: %w", err)
		}
		return cty.BoolVal(st.Mode().IsRegular()), nil
	},
})

// lengthFunc is Terraform's length: of a collection, or of a string in characters (grapheme
// clusters, cty's strlen), which cty's stdlib length does not take
// (https://developer.hashicorp.com/terraform/language/functions/length).
var lengthFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowDynamicType: true, AllowUnknown: true}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if args[0].Type() == cty.String {
			return stdlib.Strlen(args[0])
		}
		return stdlib.Length(args[0])
	},
})

// allTrueFunc is Terraform's alltrue, which cty's stdlib lacks.
var allTrueFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		for it := args[0].ElementIterator(); it.Next(); {
			_, v := it.Element()
			if v.IsNull() || v.False() {
				return cty.False, nil
			}
		}
		return cty.True, nil
	},
})

// Validate evaluates the validation blocks of variable name with value, as Terraform does at
// plan time, and returns the error messages of the conditions that fail: the variable's own,
// and those of every variable of this repository's modules that a module call passes it to
// unchanged (var.<name>), where settings several modules take are validated once (../inputs).
func (m *Module) Validate(name string, value cty.Value) ([]string, error) {
	failed, err := m.validateOwn(name, value)
	if err != nil {
		return nil, err
	}
	for _, call := range m.Find("module") {
		src, diags := call.Body.Attributes["source"].Expr.Value(nil)
		if diags.HasErrors() || !strings.HasPrefix(src.AsString(), "./") && !strings.HasPrefix(src.AsString(), "../") {
			continue
		}
		for arg, a := range call.Body.Attributes {
			ref, ok := a.Expr.(*hclsyntax.ScopeTraversalExpr)
			if !ok || len(ref.Traversal) != 2 || ref.Traversal.RootName() != "var" || ref.Traversal[1].(hcl.TraverseAttr).Name != name {
				continue
			}
			child, err := LoadModule(filepath.Join(m.Dir, src.AsString()))
			if err != nil {
				return nil, fmt.Errorf("variable %s: module %s: %w", name, call.Labels[0], err)
			}
			msgs, err := child.Validate(arg, value)
			if err != nil {
				return nil, fmt.Errorf("variable %s: module %s: %w", name, call.Labels[0], err)
			}
			failed = append(failed, msgs...)
		}
	}
	return failed, nil
}

func (m *Module) validateOwn(name string, value cty.Value) ([]string, error) {
	vars := m.Find("variable", name)
	if len(vars) != 1 {
		return nil, fmt.Errorf("variable %s is declared %d times", name, len(vars))
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{name: value})},
		Functions: validationFunctions,
	}
	var failed []string
	for _, b := range vars[0].Body.Blocks {
		if b.Type != "validation" {
			continue
		}
		cond, diags := b.Body.Attributes["condition"].Expr.Value(ctx)
		if diags.HasErrors() {
			return nil, fmt.Errorf("variable %s: evaluate condition: %w", name, diags)
		}
		if cond.Type() != cty.Bool || cond.IsNull() {
			return nil, fmt.Errorf("variable %s: condition is not a bool", name)
		}
		if cond.True() {
			continue
		}
		msg, diags := b.Body.Attributes["error_message"].Expr.Value(ctx)
		if diags.HasErrors() || msg.Type() != cty.String {
			return nil, fmt.Errorf("variable %s: error_message: %w", name, diags)
		}
		failed = append(failed, msg.AsString())
	}
	return failed, nil
}
