package infracheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// make aws-acceptance must be harmless where it cannot run: without terraform or without AWS
// credentials it says which and exits 0, before building or creating anything.
func TestAWSAcceptanceSaysWhyItSkipsAndExitsZero(t *testing.T) {
	root, _ := load(t)
	// An aws CLI that has no credentials: sts get-caller-identity fails as the real one does
	// ("Unable to locate credentials", exit 253), without the real CLI's seconds of start-up.
	noCreds := filepath.Join(t.TempDir(), "aws")
	if err := os.WriteFile(noCreds, []byte("#!/bin/sh\necho 'Unable to locate credentials.' >&2\nexit 253\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"no terraform", []string{"TERRAFORM=" + filepath.Join(t.TempDir(), "terraform")}, "aws-acceptance: skipped: terraform is not installed"},
		{"no credentials", []string{"TERRAFORM=true", "AWS=" + noCreds}, "aws-acceptance: skipped: no AWS credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(root, "scripts", "aws-acceptance.sh"))
			cmd.Env = append(cleanAWSEnv(), tt.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("exit %v, want 0: %s", err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Fatalf("output %q, want %q", out, tt.want)
			}
		})
	}
}

// cleanAWSEnv is the environment without any AWS credential or profile setting.
func cleanAWSEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
