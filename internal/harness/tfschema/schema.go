// Package tfschema checks keyrotor's Terraform against the AWS provider's own schema without
// the provider binary, which cannot be downloaded here (so terraform validate cannot run). The schema comes from the
// npm package @cdktf/provider-aws, which is generated from hashicorp/aws (21.22.1 = 6.25.0):
// gen-schema.js derives it for exactly the resource and data source types the .tf files use
// into build/tfschema/, and Check does what the provider's schema validation and
// `terraform validate` would: types exist, arguments and blocks exist and are used as such,
// required ones are present, literals have the schema's type, references resolve and module
// calls pass exactly the called module's variables, literal module arguments and variable
// defaults having the variable's type.
package tfschema

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// PackageDir is where the provider package lives, relative to the repository root.
const PackageDir = "scripts/npm/node_modules/@cdktf/provider-aws"

// Schema is the part of the provider schema keyrotor uses.
type Schema struct {
	Provider    string            `json:"provider"`
	Version     string            `json:"version"`
	Package     string            `json:"package"`
	Resources   map[string]*Block `json:"resources"`
	DataSources map[string]*Block `json:"data_sources"`
	// Asked records every type the schema was generated for, found or not, so that a cached
	// schema is reused only for the same question.
	Asked []string `json:"asked"`
}

// Block is a resource, a data source or a nested block.
type Block struct {
	Attributes map[string]*Attribute   `json:"attributes"`
	Blocks     map[string]*NestedBlock `json:"blocks"`
}

// Attribute is one argument or read-only attribute.
type Attribute struct {
	RawType      json.RawMessage `json:"type"`
	Required     bool            `json:"required"`
	ComputedOnly bool            `json:"computed_only"`
	typ          cty.Type
}

// NestedBlock is a block inside a block.
type NestedBlock struct {
	Nesting  string `json:"nesting"` // single, list or set
	MinItems int    `json:"min_items"`
	MaxItems int    `json:"max_items"` // 0: no limit
	Block    *Block `json:"block"`
}

// Type is the attribute's Terraform type; cty.DynamicPseudoType when the schema leaves it open.
func (a *Attribute) Type() cty.Type { return a.typ }

func (b *Block) resolveTypes() error {
	for name, a := range b.Attributes {
		raw := a.RawType
		if len(raw) > 0 && raw[0] == '"' && string(raw) == `"dynamic"` {
			a.typ = cty.DynamicPseudoType
			continue
		}
		t, err := ctyjson.UnmarshalType(raw)
		if err != nil {
			return fmt.Errorf("attribute %s: type %s: %w", name, raw, err)
		}
		a.typ = t
	}
	for name, nb := range b.Blocks {
		if err := nb.Block.resolveTypes(); err != nil {
			return fmt.Errorf("block %s: %w", name, err)
		}
	}
	return nil
}

// Load reads a schema written by gen-schema.js.
func Load(path string) (*Schema, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	var s Schema
	if err := json.Unmarshal(src, &s); err != nil {
		return nil, fmt.Errorf("schema %s: %w", path, err)
	}
	for _, set := range []map[string]*Block{s.Resources, s.DataSources} {
		for name, b := range set {
			if err := b.resolveTypes(); err != nil {
				return nil, fmt.Errorf("schema %s: %s: %w", path, name, err)
			}
		}
	}
	return &s, nil
}

// Generate returns the schema of the given types ("resource:aws_iam_role", "data:aws_region"),
// from cache (build/tfschema/aws-schema.json under root) when it was generated for at least
// these types, else by running gen-schema.js with node over the provider package.
func Generate(ctx context.Context, root string, types []string) (*Schema, error) {
	cache := filepath.Join(root, "build", "tfschema", "aws-schema.json")
	if s, err := Load(cache); err == nil && containsAll(s.Asked, types) && fresh(root, cache, s) {
		return s, nil
	}
	node, err := exec.LookPath("node")
	if err != nil {
		node = filepath.Join(root, "scripts", "npm", "node_modules", ".bin", "node")
	}
	pkg := filepath.Join(root, PackageDir)
	if _, err := os.Stat(filepath.Join(pkg, ".jsii")); err != nil {
		return nil, fmt.Errorf("the provider schema package is missing (%w): run make tools", err)
	}
	// Ask for the union with what the cache held, so that alternating callers do not regenerate.
	if s, err := Load(cache); err == nil {
		types = union(s.Asked, types)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join(root, "internal", "harness", "tfschema", "gen-schema.js"), pkg}, types...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("gen-schema.js: %w: %s", err, stderr.String())
	}
	var raw map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &raw); err != nil {
		return nil, fmt.Errorf("gen-schema.js printed no JSON: %w", err)
	}
	raw["asked"] = types
	out, err := json.MarshalIndent(raw, "", " ")
	if err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		return nil, fmt.Errorf("schema cache: %w", err)
	}
	tmp := cache + ".tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return nil, fmt.Errorf("schema cache: %w", err)
	}
	if err := os.Rename(tmp, cache); err != nil {
		return nil, fmt.Errorf("schema cache: %w", err)
	}
	return Load(cache)
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// fresh reports whether a cached schema came from the installed package and the current
// gen-schema.js.
func fresh(root, cache string, s *Schema) bool {
	var pkg struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	src, err := os.ReadFile(filepath.Join(root, PackageDir, "package.json"))
	if err != nil || json.Unmarshal(src, &pkg) != nil || s.Package != pkg.Name+" "+pkg.Version {
		return false
	}
	gen, err1 := os.Stat(filepath.Join(root, "internal", "harness", "tfschema", "gen-schema.js"))
	out, err2 := os.Stat(cache)
	return err1 == nil && err2 == nil && !gen.ModTime().After(out.ModTime())
}
