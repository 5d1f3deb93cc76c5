package layout

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docs/architecture.md is checked where a test can: every path it names exists, every Go name
// it gives as pkg.Name is declared there, and the table's "may import" column is what the
// rooms' packages import.

const architectureDoc = "docs/architecture.md"

var codeSpan = regexp.MustCompile("`([^`]+)`")

func readArchitecture(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), architectureDoc))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// expand turns a{b, c}d into abd, acd.
func expand(p string) []string {
	open, end := strings.Index(p, "{"), strings.Index(p, "}")
	if open < 0 || end < open {
		return []string{p}
	}
	var out []string
	for alt := range strings.SplitSeq(p[open+1:end], ",") {
		out = append(out, expand(p[:open]+strings.TrimSpace(alt)+p[end+1:])...)
	}
	return out
}

// docPath reports whether a code span names a repository path: it has a slash or a file
// extension and none of the characters of JSON, placeholders, ARNs or calls.
func docPath(span string) bool {
	if strings.ContainsAny(span, `"<>:=()`) {
		return false
	}
	return strings.Contains(span, "/") || slices.Contains([]string{".md", ".json", ".go", ".mod"}, path.Ext(span))
}

func TestArchitecturePathsExist(t *testing.T) {
	root := repoRoot(t)
	doc := readArchitecture(t)
	var goFiles []string // base names, for spans that name a file without its directory
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") {
			goFiles = append(goFiles, filepath.Base(p))
		}
		return nil
	})
	checked := 0
	for _, m := range codeSpan.FindAllStringSubmatch(doc, -1) {
		span := m[1]
		if !docPath(span) {
			continue
		}
		for _, p := range expand(span) {
			checked++
			if !strings.Contains(strings.TrimSuffix(p, "/"), "/") && strings.HasSuffix(p, ".go") {
				if !slices.Contains(goFiles, p) {
					t.Errorf("%s names %s, which no Go file of the repository is", architectureDoc, p)
				}
				continue
			}
			matches, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(strings.TrimSuffix(p, "/"))))
			if err != nil || len(matches) == 0 {
				t.Errorf("%s names %s, which does not exist", architectureDoc, p)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d paths of %s; the scan is wrong", checked, architectureDoc)
	}
}

// TestArchitectureGoNamesAreDeclared: a span pkg.Name (fleet.Lister, lambdamain.Main) names
// an exported top-level declaration of that keyrotor package.
func TestArchitectureGoNamesAreDeclared(t *testing.T) {
	root := repoRoot(t)
	dirs := map[string]string{"rotation": "internal/rotation", "lambdamain": "internal/lambdamain", "deployed": "internal/deployed", "fleet": "internal/fleet", "localenv": "internal/localenv", "audit": "internal/audit"}
	declared := map[string][]string{}
	for pkg, dir := range dirs {
		pkgs, err := parser.ParseDir(token.NewFileSet(), filepath.Join(root, dir), func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkgs {
			for _, f := range p.Files {
				for name, obj := range f.Scope.Objects {
					if ast.IsExported(name) && obj != nil {
						declared[pkg] = append(declared[pkg], name)
					}
				}
			}
		}
	}
	name := regexp.MustCompile(`^([a-z]+)\.([A-Z]\w*)$`)
	checked := 0
	for _, m := range codeSpan.FindAllStringSubmatch(readArchitecture(t), -1) {
		n := name.FindStringSubmatch(m[1])
		if n == nil {
			continue
		}
		if _, known := dirs[n[1]]; !known {
			continue
		}
		checked++
		if !slices.Contains(declared[n[1]], n[2]) {
			t.Errorf("%s names %s.%s, which package %s does not declare", architectureDoc, n[1], n[2], dirs[n[1]])
		}
	}
	if checked < 8 {
		t.Fatalf("checked only %d Go names of %s; the scan is wrong", checked, architectureDoc)
	}
}

// room is one row of the table: the paths it covers and the keyrotor packages (by last path
// element) it may import; all is true for "anything".
type room struct {
	paths   []string
	imports []string
	all     bool
}

func architectureRooms(t *testing.T) []room {
	t.Helper()
	var rooms []room
	for line := range strings.Lines(readArchitecture(t)) {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cols := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), " | ")
		if len(cols) != 3 {
			t.Fatalf("table row without three columns: %s", line)
		}
		var r room
		for _, m := range codeSpan.FindAllStringSubmatch(cols[0], -1) {
			for _, p := range expand(m[1]) {
				r.paths = append(r.paths, strings.TrimSuffix(strings.TrimSuffix(p, "*"), "/"))
			}
		}
		for _, m := range codeSpan.FindAllStringSubmatch(cols[2], -1) {
			r.imports = append(r.imports, m[1])
		}
		r.all = strings.Contains(cols[2], "anything")
		rooms = append(rooms, r)
	}
	if len(rooms) < 10 {
		t.Fatalf("found %d rooms in %s; the table is not where it was", len(rooms), architectureDoc)
	}
	return rooms
}

// roomOf is the room whose path is the longest prefix of dir.
func roomOf(rooms []room, dir string) (room, string, bool) {
	var best room
	bestPath, found := "", false
	for _, r := range rooms {
		for _, p := range r.paths {
			if (dir == p || strings.HasPrefix(dir, p+"/")) && len(p) >= len(bestPath) {
				best, bestPath, found = r, p, true
			}
		}
	}
	return best, bestPath, found
}

func TestArchitectureImportColumnIsTrue(t *testing.T) {
	rooms := architectureRooms(t)
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		dir := strings.TrimPrefix(fields[0], module+"/")
		r, at, ok := roomOf(rooms, dir)
		if !ok {
			t.Errorf("package %s is in no room of %s's table; add it", fields[0], architectureDoc)
			continue
		}
		if r.all {
			continue
		}
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			checked++
			rel := strings.TrimPrefix(imp, module+"/")
			if rel == at || strings.HasPrefix(rel, at+"/") || slices.Contains(r.imports, path.Base(rel)) {
				continue
			}
			t.Errorf("%s imports %s, which %s's table does not allow room %s (it lists %v)", fields[0], imp, architectureDoc, at, r.imports)
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d imports; the listing is wrong", checked)
	}
}
