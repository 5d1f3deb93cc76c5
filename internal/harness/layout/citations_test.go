package layout

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The docs back their claims with tests cited as pkg/TestName (docs/threat-model.md above all);
// a test renamed or moved leaves a claim with nothing behind it, so each citation must name a
// test declared in a package of that name (lp: leastprivilege).
var citation = regexp.MustCompile(`\b([a-z]+)/(Test[A-Za-z0-9_]+)`)

var citationAliases = map[string]string{"lp": "leastprivilege"}

func TestEveryTestTheDocsCiteExistsWhereTheySay(t *testing.T) {
	root := repoRoot(t)
	declared := map[string]map[string]bool{} // test name → package directory names
	decl := regexp.MustCompile(`(?m)^func (Test[A-Za-z0-9_]+)\(`)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
			if declared[m[1]] == nil {
				declared[m[1]] = map[string]bool{}
			}
			declared[m[1]][filepath.Base(filepath.Dir(p))] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	docs = append(docs, filepath.Join(root, "README.md"), filepath.Join(root, "statemachine", "README.md"), filepath.Join(root, "localaws", "README.md"))
	cited := 0
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, doc)
		for _, m := range citation.FindAllStringSubmatch(string(b), -1) {
			pkg, name := m[1], m[2]
			if alias, ok := citationAliases[pkg]; ok {
				pkg = alias
			}
			cited++
			switch pkgs := declared[name]; {
			case pkgs == nil:
				t.Errorf("%s cites %s/%s: no such test", rel, m[1], name)
			case !pkgs[pkg]:
				t.Errorf("%s cites %s/%s: the test is in %v", rel, m[1], name, slices.Sorted(maps.Keys(pkgs)))
			}
		}
	}
	if cited == 0 {
		t.Fatal("no citation found: the pattern no longer matches the docs")
	}
}
