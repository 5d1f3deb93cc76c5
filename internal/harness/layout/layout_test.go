// Package layout checks the house rules that keep product and harness apart: no product package
// imports a harness package (docs/architecture.md draws the rooms), and nothing large is tracked.
package layout

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	module  = "github.com/keyrotor/keyrotor"
	harness = module + "/internal/harness"
	// maxTrackedBytes: built output (binaries, archives) is never tracked; anything this large is.
	maxTrackedBytes = 1 << 20
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func isHarness(pkg string) bool { return pkg == harness || strings.HasPrefix(pkg, harness+"/") }

// TestProductPackagesDoNotImportTheHarness lists every package's non-test imports (test files
// are harness themselves and may import it).
func TestProductPackagesDoNotImportTheHarness(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	products := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 || isHarness(fields[0]) {
			continue
		}
		products++
		for _, imp := range fields[1:] {
			if isHarness(imp) {
				t.Errorf("product package %s imports harness package %s; move the shared code into the product or the importer into internal/harness", fields[0], imp)
			}
		}
	}
	if products < 10 {
		t.Fatalf("found only %d product packages; the listing is wrong", products)
	}
}

func TestNoTrackedFileIsOverOneMegabyte(t *testing.T) {
	root := repoRoot(t)
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("not a git checkout (%v); nothing to check", err)
	}
	files := strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(root, f))
		if err != nil {
			continue // deleted in the work tree, not yet committed
		}
		if fi.Size() > maxTrackedBytes {
			t.Errorf("%s is tracked and %d bytes (limit %d): built or generated output must not be tracked; git rm --cached it and add an ignore rule", f, fi.Size(), maxTrackedBytes)
		}
	}
	if len(files) < 50 {
		t.Fatalf("git ls-files listed only %d files", len(files))
	}
}

// TestSsmcredsModuleNeedsOnlyTheAWSSDK: what consumers import is its own module, so importing it
// brings no CLI, Terraform or harness dependency.
func TestSsmcredsModuleNeedsOnlyTheAWSSDK(t *testing.T) {
	cmd := exec.Command("go", "list", "-m", "all")
	cmd.Dir = filepath.Join(repoRoot(t), "ssmcreds")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m all in ssmcreds: %v", err)
	}
	mods := strings.Fields(string(out))
	if len(mods) == 0 || mods[0] != module+"/ssmcreds" {
		t.Fatalf("ssmcreds is not its own module: go list -m all printed %q", out)
	}
	for line := range strings.Lines(string(out)) {
		mod := strings.Fields(line)[0]
		if mod == module+"/ssmcreds" || strings.HasPrefix(mod, "github.com/aws/") {
			continue
		}
		t.Errorf("the ssmcreds module requires %s; it may need only the AWS SDK", mod)
	}
}

// TestDomainPackageHasNoLambdaPlumbing: internal/rotation is the domain; the Lambda runtime,
// the SDK's configuration loading and process exits are internal/lambdamain's, and the domain
// imports no other keyrotor package (docs/architecture.md).
func TestDomainPackageHasNoLambdaPlumbing(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, "./internal/rotation")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := strings.Fields(string(out))
	if len(imports) < 5 {
		t.Fatalf("go list printed only %q", out)
	}
	for _, imp := range imports {
		switch {
		case strings.HasPrefix(imp, "github.com/aws/aws-lambda-go"), imp == "github.com/aws/aws-sdk-go-v2/config":
			t.Errorf("internal/rotation imports %s: Lambda plumbing belongs in internal/lambdamain", imp)
		case strings.HasPrefix(imp, module+"/"):
			t.Errorf("internal/rotation imports %s: the domain depends on no other keyrotor package", imp)
		}
	}
}

// TestLocalAWSModuleImportsNoKeyrotorPackage: the local AWS (localaws/) is a Go module anyone can
// import to run Step Functions, Lambda bootstraps and moto locally; keyrotor's wiring of it
// (roles, functions, users) stays in internal/localenv, so the module depends on no keyrotor code.
func TestLocalAWSModuleImportsNoKeyrotorPackage(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "localaws")
	cmd := exec.Command("go", "list", "-m")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m in localaws: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != module+"/localaws" {
		t.Fatalf("localaws is not its own module: go list -m printed %q", got)
	}
	cmd = exec.Command("go", "list", "-deps", "-test", "./...")
	cmd.Dir = dir
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps -test in localaws: %v", err)
	}
	n := 0
	for line := range strings.Lines(string(out)) {
		pkg := strings.TrimSpace(line)
		if !strings.HasPrefix(pkg, module+"/") {
			continue
		}
		n++
		if !strings.HasPrefix(pkg, module+"/localaws") {
			t.Errorf("the local AWS module depends on %s; keyrotor's wiring belongs in internal/localenv", pkg)
		}
	}
	if n < 5 {
		t.Fatalf("go list -deps listed only %d localaws packages", n)
	}
}

// TestFunctionsCompileTheSameFilesForTheDeployedArchitecture: Terraform deploys the functions
// built for linux/arm64 (`make build`), while `make test` builds, vets and runs them for the host
// only; a cold arm64 build of the SDK's tree cost about 176 CPU-s of a newcomer's first
// `make test` (bench/BENCHMARKS.md §6). That stands in for the arm64 build because every
// keyrotor package the functions link compiles the same files for both architectures, and every
// dependency resolves for arm64 (no package without files or with a missing import there).
func TestFunctionsCompileTheSameFilesForTheDeployedArchitecture(t *testing.T) {
	files := func(goarch string) map[string]string {
		cmd := exec.Command("go", "list", "-deps", "-e", "-f",
			`{{.ImportPath}} {{join .GoFiles ","}} {{join .EmbedFiles ","}}{{with .Error}} ERROR {{.}}{{end}}{{range .DepsErrors}} ERROR {{.}}{{end}}`,
			"./functions/...")
		cmd.Dir = repoRoot(t)
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps for linux/%s: %v", goarch, err)
		}
		got := map[string]string{}
		for line := range strings.Lines(string(out)) {
			pkg, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
			if strings.Contains(rest, " ERROR ") || strings.HasPrefix(rest, "ERROR ") {
				t.Errorf("linux/%s: %s does not build: %s", goarch, pkg, rest)
			}
			got[pkg] = rest
		}
		return got
	}
	arm, host := files("arm64"), files("amd64")
	ours := 0
	for pkg, armFiles := range arm {
		if pkg != module && !strings.HasPrefix(pkg, module+"/") {
			continue
		}
		ours++
		if hostFiles, ok := host[pkg]; !ok || hostFiles != armFiles {
			t.Errorf("%s compiles %q for linux/arm64 but %q for linux/amd64: an architecture-specific file is built and tested only by `make build`; make it portable", pkg, armFiles, hostFiles)
		}
	}
	if ours < 5 {
		t.Fatalf("go list -deps listed only %d keyrotor packages of the functions", ours)
	}
}
