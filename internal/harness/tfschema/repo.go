package tfschema

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"

	"github.com/keyrotor/keyrotor/internal/harness/infracheck"
)

// ModuleDirs lists every directory under root/infra that holds .tf files, sorted.
func ModuleDirs(root string) ([]string, error) {
	files, err := infracheck.TerraformFiles(root)
	if err != nil {
		return nil, fmt.Errorf("list Terraform modules: %w", err)
	}
	var dirs []string
	for _, f := range files {
		if d := filepath.Dir(f); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}

// CheckDirs generates the schema of every type the modules in dirs use and checks each module
// (and the local modules it calls) against it; each module is checked once.
func CheckDirs(ctx context.Context, root string, dirs []string) (Report, *Schema, error) {
	var types []string
	for _, dir := range dirs {
		m, err := LoadModule(dir)
		if err != nil {
			return Report{}, nil, err
		}
		types = union(types, m.Types())
	}
	s, err := Generate(ctx, root, types)
	if err != nil {
		return Report{}, nil, err
	}
	c := &checker{schema: s, report: &Report{}, modules: map[string]*Module{}}
	for _, dir := range dirs {
		if err := c.module(dir); err != nil {
			return Report{}, nil, err
		}
	}
	return *c.report, s, nil
}

// Summary is the line `make test` prints.
func Summary(r Report, s *Schema) string {
	return fmt.Sprintf("terraform schema (%s %s): %d resources, %d arguments checked, %d problems", s.Provider, s.Version, r.Resources, r.Arguments, len(r.Problems))
}
