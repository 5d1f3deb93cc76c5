package faults

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/internal/harness/testutil"
)

// rejections are the Errors a refused execution input may end with.
// ParameterMismatch and FormatMismatch: a parameterName or format other than the user's own (issue 17).
var rejections = []string{"InvalidInput", "UserNotFound", "UserNotManaged", "ParameterConflict", "ParameterMismatch", "FormatMismatch"}

// hostile builds the inputs; victim is a managed user with its key stored, other another one,
// unmanaged a user without the tag, foreign a parameter under the prefix keyrotor did not write.
func hostile(victim, other, unmanaged, foreign string) []struct{ name, input string } {
	q := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	return []struct{ name, input string }{
		{"empty object", `{}`},
		{"empty userName", `{"userName":""}`},
		{"unknown user", `{"userName":"no-such-user-7"}`},
		{"user not managed", q(map[string]any{"userName": unmanaged})},
		{"parameter outside the prefix", q(map[string]any{"userName": victim, "parameterName": "/other/" + victim})},
		{"parameter path traversal", q(map[string]any{"userName": victim, "parameterName": "/keyrotor/../other/" + victim})},
		{"parameter is the prefix itself", q(map[string]any{"userName": victim, "parameterName": "/keyrotor/"})},
		{"parameter names a lock", q(map[string]any{"userName": victim, "parameterName": "/keyrotor/" + victim + ".lock"})},
		{"user name path traversal", `{"userName":"../keyrotor-test-admin"}`},
		{"user name with a NUL", q(map[string]any{"userName": victim + "\x00"})},
		{"user name too long", q(map[string]any{"userName": strings.Repeat("u", 65)})},
		{"parameter name too long", q(map[string]any{"userName": victim, "parameterName": "/keyrotor/" + strings.Repeat("p", 2100)})},
		{"negative grace", q(map[string]any{"userName": victim, "graceSeconds": -1})},
		{"huge grace", q(map[string]any{"userName": victim, "graceSeconds": 1 << 40})},
		{"negative inactive", q(map[string]any{"userName": victim, "inactiveSeconds": -86400})},
		{"huge inactive", q(map[string]any{"userName": victim, "inactiveSeconds": 2592001})},
		{"fractional grace", q(map[string]any{"userName": victim, "graceSeconds": 1.5})},
		{"grace as a string", q(map[string]any{"userName": victim, "graceSeconds": "3600"})},
		{"user name as a number", `{"userName":42}`},
		{"user name as a list", q(map[string]any{"userName": []string{victim}})},
		{"unknown format", q(map[string]any{"userName": victim, "format": "xml"})},
		{"extra field", q(map[string]any{"userName": victim, "admin": true})},
		{"internal field: extensions", q(map[string]any{"userName": victim, "extensions": 3})},
		{"internal field: previousAccessKeyIds", q(map[string]any{"userName": victim, "previousAccessKeyIds": []string{"AKIAOTHERUSERKEY0001"}})},
		{"parameter held by another user", q(map[string]any{"userName": victim, "parameterName": "/keyrotor/" + other})},
		{"parameter keyrotor did not write", q(map[string]any{"userName": victim, "parameterName": foreign})},
		{"input is a list", `[]`},
		{"input is a string", `"` + victim + `"`},
		{"input is null", `null`},
	}
}

// TestHostileInputsChangeNothing starts executions with malformed and hostile inputs: each must
// end FAILED with a named rejection and a Cause saying what was wrong, or be refused by
// StartExecution — and nothing anywhere (keys, parameters, locks) may change.
func TestHostileInputsChangeNothing(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 5*time.Minute)
	b.Env.Proxy.ClearRules()
	victim, err := b.NewTarget(ctx, "victim", Seed{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.NewTarget(ctx, "other", Seed{})
	if err != nil {
		t.Fatal(err)
	}
	unmanaged, err := b.NewTarget(ctx, "unmanaged", Seed{Unmanaged: true})
	if err != nil {
		t.Fatal(err)
	}
	foreign := b.Env.ParameterPrefix + "hand-made"
	if _, err := b.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(foreign), Value: aws.String("not keyrotor's"),
		Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	cases := hostile(victim.UserName, other.UserName, unmanaged.UserName, foreign)
	cases = append(cases,
		struct{ name, input string }{"input over 256 KiB", `{"userName":"` + victim.UserName + `","pad":"` + strings.Repeat("x", 256*1024) + `"}`},
		struct{ name, input string }{"input is not JSON", `{"userName":`},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var run Run
			var err error
			changesNothing(ctx, t, b, "input", func() { run, err = b.Rotate(ctx, "", c.input) })
			if err != nil {
				t.Logf("StartExecution refused it: %v", err)
				if !strings.Contains(err.Error(), "nput") {
					t.Errorf("StartExecution's error does not say the input is at fault: %v", err)
				}
				return
			}
			t.Logf("%s %s: %s", run.Status, run.Error, run.Cause)
			if run.Status != "FAILED" || !slices.Contains(rejections, run.Error) {
				t.Errorf("ended %s %s (%s); want FAILED with one of %v", run.Status, run.Error, run.Cause, rejections)
			}
			if c := strings.TrimSpace(run.Cause); c == "" || strings.HasPrefix(c, "{") {
				t.Errorf("Cause %q says nothing a person can act on", run.Cause)
			}
			if slices.Contains(run.StatePath(), "CreateKey") {
				t.Errorf("the rotation went past Begin: %v", run.StatePath())
			}
		})
	}
}

// TestCLIRefusesBadArguments runs the keyrotor CLI with bad arguments against the local
// engine: each must exit non-zero with a message naming the problem, and change nothing.
func TestCLIRefusesBadArguments(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 5*time.Minute)
	bin := filepath.Join(t.TempDir(), "keyrotor")
	testutil.TrackGoPackages(t, b.Root, "./cmd/keyrotor")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/keyrotor")
	build.Dir = b.Root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the CLI: %v\n%s", err, out)
	}
	victim, err := b.NewTarget(ctx, "cli", Seed{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		says string // the message must contain this
	}{
		{"no user", []string{"rotate"}, "--user"},
		{"empty user", []string{"rotate", "--user", ""}, "--user"},
		{"user path traversal", []string{"rotate", "--user", "../admin"}, "user"},
		{"user too long", []string{"rotate", "--user", strings.Repeat("u", 65)}, "user"},
		{"parameter outside the prefix", []string{"rotate", "--user", victim.UserName, "--parameter", "/etc/passwd", "--wait"}, "/etc/passwd"},
		{"parameter path traversal", []string{"rotate", "--user", victim.UserName, "--parameter", "/keyrotor/../x"}, "parameter"},
		{"negative grace", []string{"rotate", "--user", victim.UserName, "--grace", "-5"}, "grace"},
		{"grace not a number", []string{"rotate", "--user", victim.UserName, "--grace", "soon"}, "grace"},
		{"huge inactive", []string{"rotate", "--user", victim.UserName, "--inactive", "999999999"}, "inactive"},
		{"unknown format", []string{"rotate", "--user", victim.UserName, "--format", "xml"}, "format"},
		{"unknown flag", []string{"rotate", "--user", victim.UserName, "--force"}, "force"},
		{"stray argument", []string{"rotate", "--user", victim.UserName, "now"}, "now"},
		{"unknown user", []string{"rotate", "--user", "no-such-user-9", "--wait"}, "no-such-user-9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.CommandContext(ctx, bin, c.args...)
			cmd.Env = append(os.Environ(), b.Env.Environ()...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			var err error
			changesNothing(ctx, t, b, "keyrotor "+strings.Join(c.args, " "), func() { err = cmd.Run() })
			out := stdout.String() + stderr.String()
			if err == nil {
				t.Errorf("keyrotor %v exited 0:\n%s", c.args, out)
			}
			if !strings.Contains(out, c.says) {
				t.Errorf("keyrotor %v says %q; want it to name %q", c.args, out, c.says)
			}
			t.Logf("keyrotor %s → %s", strings.Join(c.args, " "), firstLine(out))
		})
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
