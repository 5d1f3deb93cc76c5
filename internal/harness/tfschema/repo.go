package tfschema

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
)

// ModuleDirs lists every directory under root/infra that holds .tf files, sorted.
func ModuleDirs(root string) ([]string, error) {
	seen := map[string]bool{}
	err := filepath.WalkDir(filepath.Join(root, "infra"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".terraform") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".tf") {
			seen[filepath.Dir(path)] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list Terraform modules: %w", err)
	}
	dirs := make([]string, 0, len(seen))
	for d := range seen {
		dirs = append(dirs, d)
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
