package deployed

import (
	"fmt"
	"math/big"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

// Defaults are the deployed engine's defaults, read from the Terraform variables that set them
// (infra/modules/engine and infra/modules/managed-key variables.tf): one place, which the
// local engine and the CLI read too, so that local and deployed cannot drift apart unseen.
type Defaults struct {
	ManagedUserPath    string // engine managed_user_path: where managed users must live
	ParameterPrefix    string // engine parameter_prefix
	MinGraceSeconds    int    // engine min_grace_seconds: the floor of graceSeconds
	MinInactiveSeconds int    // engine min_inactive_seconds: the floor of inactiveSeconds
	GraceSeconds       int    // managed-key grace_seconds
	InactiveSeconds    int    // managed-key inactive_seconds
}

// ReadDefaults reads the defaults from the modules under root (the repository root).
func ReadDefaults(root string) (Defaults, error) {
	engine, err := variableDefaults(filepath.Join(root, "infra", "modules", "engine", "variables.tf"))
	if err != nil {
		return Defaults{}, err
	}
	key, err := variableDefaults(filepath.Join(root, "infra", "modules", "managed-key", "variables.tf"))
	if err != nil {
		return Defaults{}, err
	}
	var d Defaults
	for _, f := range []struct {
		vars map[string]cty.Value
		name string
		str  *string
		num  *int
	}{
		{engine, "managed_user_path", &d.ManagedUserPath, nil},
		{engine, "parameter_prefix", &d.ParameterPrefix, nil},
		{engine, "min_grace_seconds", nil, &d.MinGraceSeconds},
		{engine, "min_inactive_seconds", nil, &d.MinInactiveSeconds},
		{key, "grace_seconds", nil, &d.GraceSeconds},
		{key, "inactive_seconds", nil, &d.InactiveSeconds},
	} {
		v, ok := f.vars[f.name]
		if !ok || v.IsNull() {
			return Defaults{}, fmt.Errorf("engine defaults: variable %q has no default", f.name)
		}
		switch {
		case f.str != nil && v.Type() == cty.String:
			*f.str = v.AsString()
		case f.num != nil && v.Type() == cty.Number && v.AsBigFloat().IsInt():
			n, _ := v.AsBigFloat().Int(new(big.Int))
			*f.num = int(n.Int64())
		default:
			return Defaults{}, fmt.Errorf("engine defaults: variable %q's default %s is not a literal of the expected type", f.name, v.GoString())
		}
	}
	return d, nil
}

// variableDefaults are the literal defaults of the variables in one .tf file.
func variableDefaults(path string) (map[string]cty.Value, error) {
	f, diags := hclparse.NewParser().ParseHCLFile(path)
	if diags.HasErrors() {
		return nil, fmt.Errorf("engine defaults: %w", diags)
	}
	content, _, diags := f.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "variable", LabelNames: []string{"name"}}}})
	if diags.HasErrors() {
		return nil, fmt.Errorf("engine defaults: %w", diags)
	}
	out := map[string]cty.Value{}
	for _, b := range content.Blocks {
		attrs, _ := b.Body.JustAttributes()
		if a, ok := attrs["default"]; ok {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				continue // not a literal (a map of objects, say): no default we read
			}
			out[b.Labels[0]] = v
		}
	}
	return out, nil
}
