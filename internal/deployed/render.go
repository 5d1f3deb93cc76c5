// Package deployed is the engine and its member accounts as infra/ deploys them, read from
// the Terraform itself so that Terraform, the Go tests and the local engine have one source of
// truth: the IAM and KMS policy templates (infra/modules/*/policies/*.json.tftpl) rendered
// exactly as Terraform's templatefile does, the resources' names and ARNs, the functions, the
// variables' defaults, and the repository root they are found from.
package deployed

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Vars are a template's variables: string, bool, int or []string values.
type Vars map[string]any

// templateFunctions are the Terraform functions keyrotor's templates may call. A template that
// calls anything else fails to render here, which keeps it renderable by both sides.
var templateFunctions = map[string]function.Function{
	"jsonencode": stdlib.JSONEncodeFunc,
	"length":     stdlib.LengthFunc,
	"flatten":    stdlib.FlattenFunc,
	"concat":     stdlib.ConcatFunc,
}

// RenderFile evaluates the template at path with vars. As with templatefile, referring to a
// variable that vars lacks is an error.
func RenderFile(path string, vars Vars) (string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read policy template: %w", err)
	}
	expr, diags := hclsyntax.ParseTemplate(src, path, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return "", fmt.Errorf("parse policy template %s: %w", path, diags)
	}
	values, err := ctyVars(vars)
	if err != nil {
		return "", fmt.Errorf("policy template %s: %w", path, err)
	}
	var missing []string
	for _, tr := range expr.Variables() {
		if _, ok := values[tr.RootName()]; !ok {
			missing = append(missing, tr.RootName())
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return "", fmt.Errorf("policy template %s refers to %s, which the caller does not set: add it to the template variables", path, strings.Join(missing, ", "))
	}
	val, diags := expr.Value(&hcl.EvalContext{Variables: values, Functions: templateFunctions})
	if diags.HasErrors() {
		return "", fmt.Errorf("render policy template %s: %w", path, diags)
	}
	if !val.Type().Equals(cty.String) || val.IsNull() {
		return "", fmt.Errorf("policy template %s did not render to a string", path)
	}
	return val.AsString(), nil
}

// RenderDocument renders the template at path and decodes it as a policy document.
func RenderDocument(path string, vars Vars) (Document, error) {
	text, err := RenderFile(path, vars)
	if err != nil {
		return Document{}, err
	}
	var doc Document
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return Document{}, fmt.Errorf("policy template %s does not render to a policy document: %w", path, err)
	}
	return doc, nil
}

// TemplateVariables lists the variable names the template at path refers to, sorted.
func TemplateVariables(path string) ([]string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy template: %w", err)
	}
	expr, diags := hclsyntax.ParseTemplate(src, path, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return nil, fmt.Errorf("parse policy template %s: %w", path, diags)
	}
	seen := map[string]bool{}
	var names []string
	for _, tr := range expr.Variables() {
		if !seen[tr.RootName()] {
			seen[tr.RootName()] = true
			names = append(names, tr.RootName())
		}
	}
	sort.Strings(names)
	return names, nil
}

func ctyVars(vars Vars) (map[string]cty.Value, error) {
	out := make(map[string]cty.Value, len(vars))
	for name, v := range vars {
		switch v := v.(type) {
		case string:
			out[name] = cty.StringVal(v)
		case bool:
			out[name] = cty.BoolVal(v)
		case int:
			out[name] = cty.NumberIntVal(int64(v))
		case []string:
			if len(v) == 0 {
				out[name] = cty.ListValEmpty(cty.String)
				continue
			}
			items := make([]cty.Value, len(v))
			for i, s := range v {
				items[i] = cty.StringVal(s)
			}
			out[name] = cty.ListVal(items)
		default:
			return nil, fmt.Errorf("variable %q has unsupported type %T (use string, bool, int or []string)", name, v)
		}
	}
	return out, nil
}
