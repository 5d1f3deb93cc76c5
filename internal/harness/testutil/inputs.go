package testutil

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Go's test cache (go help test) reuses a passing result while the test binary, the environment
// variables the test read and the files it opened or stat'ed inside the module are unchanged. It
// does not see what a subprocess reads: a binary the test builds with `go build`, a Node or Python
// program it runs. A test that runs one calls TrackFiles or TrackGoPackages, so that a change to
// what the subprocess reads runs the test again instead of replaying its last pass.

// TrackFiles stats paths (a directory: every file under it, node_modules and __pycache__
// excepted, which their lockfile and sources stand for), so that the test cache keys on them.
func TrackFiles(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "__pycache__") {
				return filepath.SkipDir
			}
			_, err = os.Stat(path)
			return err
		})
		if err != nil {
			t.Fatalf("track the test's inputs: %v", err)
		}
	}
}

// TrackGoPackages stats the Go and embedded files of pkgs and of every package they import from
// this repository (dir's module and the modules it replaces with a directory inside it), for a
// test that builds pkgs in a subprocess: the test binary need not contain them.
func TrackGoPackages(t testing.TB, dir string, pkgs ...string) {
	t.Helper()
	root, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", append([]string{"list", "-deps", "-f",
		`{{if not .Standard}}{{.Dir}}{{range .GoFiles}}|{{.}}{{end}}{{range .EmbedFiles}}|{{.}}{{end}}{{end}}`}, pkgs...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("track the test's inputs: go list %v: %v", pkgs, err)
	}
	env := exec.Command("go", "env", "GOMOD")
	env.Dir = root
	mod, err := env.Output()
	if err != nil {
		t.Fatalf("track the test's inputs: go env GOMOD: %v", err)
	}
	repo := filepath.Dir(strings.TrimSpace(string(mod)))
	files := []string{filepath.Join(repo, "go.mod"), filepath.Join(repo, "go.sum")}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.Split(line, "|")
		if rel, err := filepath.Rel(repo, parts[0]); err != nil || strings.HasPrefix(rel, "..") {
			continue // the module cache's packages: go.sum pins them
		}
		for _, f := range parts[1:] {
			files = append(files, filepath.Join(parts[0], f))
		}
	}
	TrackFiles(t, files...)
}
