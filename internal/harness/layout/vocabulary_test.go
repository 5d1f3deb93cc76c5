package layout

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

// One vocabulary: each list, limit, environment variable and error name keyrotor's code shares
// is defined once (internal/rotation's vocab.go and errors.go, deployed.Functions) and imported
// everywhere else. These tests read every Go file of the module and fail where a second
// definition appears.

// goFile is one parsed Go file of the root module.
type goFile struct {
	pkg  string // import path
	path string // relative to the repository root
	test bool
	ast  *ast.File
	fset *token.FileSet
}

// moduleFiles parses every Go file (tests too) of the root module's packages.
func moduleFiles(t *testing.T) []goFile {
	t.Helper()
	root := repoRoot(t)
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{.Dir}}|{{join .GoFiles ","}}|{{join .TestGoFiles ","}},{{join .XTestGoFiles ","}}`, "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	fset := token.NewFileSet()
	var files []goFile
	for line := range strings.Lines(string(out)) {
		parts := strings.Split(strings.TrimSpace(line), "|")
		if len(parts) != 4 {
			t.Fatalf("go list printed %q", line)
		}
		for i, list := range parts[2:] {
			for name := range strings.SplitSeq(list, ",") {
				if name == "" {
					continue
				}
				full := filepath.Join(parts[1], name)
				f, err := parser.ParseFile(fset, full, nil, 0)
				if err != nil {
					t.Fatal(err)
				}
				rel, _ := filepath.Rel(root, full)
				files = append(files, goFile{pkg: parts[0], path: rel, test: i == 1, ast: f, fset: fset})
			}
		}
	}
	if len(files) < 100 {
		t.Fatalf("parsed only %d Go files; the listing is wrong", len(files))
	}
	return files
}

// stringLit is the value of a string literal expression ("", false for anything else).
func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

func (f goFile) at(p token.Pos) string {
	return f.path + ":" + strconv.Itoa(f.fset.Position(p).Line)
}

// TestTheEngineFunctionsAreListedOnce: the list of the engine's Lambdas is deployed.Functions
// (built on rotation.Functions); any other slice literal naming two or more of them is a copy
// that will drift (a seventh function, a rename).
func TestTheEngineFunctionsAreListedOnce(t *testing.T) {
	for _, f := range moduleFiles(t) {
		ast.Inspect(f.ast, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			named := 0
			for _, e := range lit.Elts {
				if s, ok := stringLit(e); ok && slices.Contains(deployed.Functions, s) {
					named++
				}
			}
			if named >= 2 {
				t.Errorf("%s lists %d of the engine's functions again; range over deployed.Functions (or rotation.Functions() for the step Lambdas)", f.at(lit.Pos()), named)
			}
			return true
		})
	}
}

// TestEnvironmentVariableNamesAreSpelledOnce: a KEYROTOR_* variable's name is written once, as
// the constant every reader and writer imports (tests may spell them: they check the contract).
func TestEnvironmentVariableNamesAreSpelledOnce(t *testing.T) {
	seen := map[string]string{}
	for _, f := range moduleFiles(t) {
		if f.test {
			continue
		}
		ast.Inspect(f.ast, func(n ast.Node) bool {
			e, ok := n.(ast.Expr)
			if !ok {
				return true
			}
			s, ok := stringLit(e)
			if !ok || !strings.HasPrefix(s, "KEYROTOR_") {
				return true
			}
			if first, dup := seen[s]; dup {
				t.Errorf("%s spells %s again (first at %s); use the constant", f.at(e.Pos()), s, first)
			} else {
				seen[s] = f.at(e.Pos())
			}
			return true
		})
	}
	if seen[rotation.EnvStateMachineARN] == "" {
		t.Fatalf("found no definition of %s; the scan is wrong", rotation.EnvStateMachineARN)
	}
}

// TestErrorNamesAreRotations: the names a rotation fails with are rotation's constants, and
// rotation.ErrorNames lists every one of them; no other non-test file spells one as a string.
func TestErrorNamesAreRotations(t *testing.T) {
	const rotationPkg = module + "/internal/rotation"
	defined := 0
	for _, f := range moduleFiles(t) {
		if f.test {
			continue
		}
		if f.pkg == rotationPkg {
			// Every constant whose value is its own name (InvalidInput = "InvalidInput") is an
			// error name, and must be listed.
			ast.Inspect(f.ast, func(n ast.Node) bool {
				vs, ok := n.(*ast.ValueSpec)
				if !ok {
					return true
				}
				for i, id := range vs.Names {
					if i >= len(vs.Values) {
						break
					}
					if s, ok := stringLit(vs.Values[i]); ok && s == id.Name {
						defined++
						if id.Name != rotation.UnexpectedError && id.Name != rotation.UnknownKey && !slices.Contains(rotation.ErrorNames, s) {
							t.Errorf("%s defines error name %s, which rotation.ErrorNames does not list", f.at(id.Pos()), s)
						}
					}
				}
				return true
			})
			continue
		}
		ast.Inspect(f.ast, func(n ast.Node) bool {
			e, ok := n.(ast.Expr)
			if !ok {
				return true
			}
			if s, ok := stringLit(e); ok && slices.Contains(rotation.ErrorNames, s) {
				t.Errorf("%s spells rotation's error name %q; use rotation.%s", f.at(e.Pos()), s, s)
			}
			return true
		})
	}
	if defined < len(rotation.ErrorNames) {
		t.Fatalf("found %d error-name constants in internal/rotation, fewer than the %d listed; the scan is wrong", defined, len(rotation.ErrorNames))
	}
}

// TestParameterNameLengthHasOneLimit: a parameter name's length is compared with
// rotation.MaxParameterNameLength, never with a number of its own (it was 1011 in the CLI and
// 1000 in Begin).
func TestParameterNameLengthHasOneLimit(t *testing.T) {
	checks := 0
	for _, f := range moduleFiles(t) {
		if f.test {
			continue
		}
		ast.Inspect(f.ast, func(n ast.Node) bool {
			b, ok := n.(*ast.BinaryExpr)
			if !ok || (b.Op != token.GTR && b.Op != token.GEQ && b.Op != token.LSS && b.Op != token.LEQ) {
				return true
			}
			call, ok := b.X.(*ast.CallExpr)
			if !ok {
				return true
			}
			if id, ok := call.Fun.(*ast.Ident); !ok || id.Name != "len" {
				return true
			}
			if sel, ok := b.Y.(*ast.SelectorExpr); ok && sel.Sel.Name == "MaxParameterNameLength" {
				checks++
			}
			if id, ok := b.Y.(*ast.Ident); ok && id.Name == "MaxParameterNameLength" {
				checks++
			}
			if lit, ok := b.Y.(*ast.BasicLit); ok && lit.Kind == token.INT {
				if v, _ := strconv.Atoi(lit.Value); v >= 900 && v <= 2048 {
					t.Errorf("%s compares a length with %d, a parameter name's limit; use rotation.MaxParameterNameLength", f.at(b.Pos()), v)
				}
			}
			return true
		})
	}
	if checks < 2 {
		t.Fatalf("found %d comparisons with MaxParameterNameLength, want Begin's and the CLI's", checks)
	}
}
