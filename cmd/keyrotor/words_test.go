package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyrotor/keyrotor/internal/audit"
	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/internal/localenv"
)

func TestMaxAgeCountsDaysAsAWSConfigDoes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		err  string
	}{
		{"90", 90 * 86400, ""}, {"90d", 90 * 86400, ""}, {"36h", 36 * 3600, ""}, {"1", 86400, ""},
		{"0", 0, "more than 0 days"}, {"soon", 0, "want seconds"}, {"4000", 0, "between 0 and"},
	} {
		got, err := parseMaxAge(tc.in)
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("--max-age %s = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("--max-age %s: %v; want an error with %q", tc.in, err, tc.err)
		}
	}
	for days, want := range map[float64]string{90: "90 days", 1: "1 day", 1.5: "1.5 days"} {
		if got := daysText(days); got != want {
			t.Errorf("daysText(%g) = %q, want %q", days, got, want)
		}
	}
}

func TestAuditTableHasAHeaderForEveryColumnNoTrailingSpacesAndListsUsersWithoutKeys(t *testing.T) {
	r := &audit.Report{MaxAgeDays: 90, Users: 3, UsersWithoutKeys: []string{"nokeys"}, OverMaxAge: 1, Keys: []audit.Key{
		{User: "old", AccessKeyID: "AKIAOLD", Status: "Active", AgeDays: 120, OverMaxAge: true, Created: time.Now()},
		{User: "a-much-longer-user-name", AccessKeyID: "AKIANEW", Status: "Active", AgeDays: 1, HeldBy: "/keyrotor/x", Managed: true},
	}}
	var b bytes.Buffer
	printAudit(&b, r)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	for _, l := range lines {
		if strings.HasSuffix(l, " ") {
			t.Errorf("line ends in padding: %q", l)
		}
	}
	if len(lines) < 3 || !strings.HasSuffix(lines[0], "OVER MAX AGE") {
		t.Errorf("the over-age column has no header: %q", lines[0])
	}
	if !strings.HasSuffix(lines[1], "yes") || !strings.Contains(b.String(), "users without access keys: nokeys") || !strings.Contains(b.String(), "older than 90 days") {
		t.Errorf("audit table:\n%s", b.String())
	}
}

// Every phrase the CLI rewrites into flags must still be in the engine's causes: a phrase
// that changed there would silently stop being rewritten.
func TestCausesSpeakInFlagsAndEveryRewrittenPhraseExistsInTheEngine(t *testing.T) {
	var src strings.Builder
	for _, f := range []string{"begin.go", "account.go", "rotation.go", "create.go", "errors.go", "lock.go", "plan.go"} {
		b, err := os.ReadFile("../../internal/rotation/" + f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	for _, phrase := range []string{`Omit parameterName`, `pass "move": true`, `Omit format`, `pass "changeFormat": true`, `omit accountId`, `accountId %q`, `(omit it for the engine's own account)`, `check userName`, `wait for it to finish or stop it, then start again`} {
		if !strings.Contains(src.String(), phrase) {
			t.Errorf("internal/rotation no longer says %q; update causeInFlags", phrase)
		}
		if got := inFlags(phrase); got == phrase || strings.Contains(got, "\"") && strings.Contains(got, "true") {
			t.Errorf("inFlags(%q) = %q: not rewritten into a flag", phrase, got)
		}
	}
}

func TestRotateSaysWhatBecameOfEveryOldKey(t *testing.T) {
	o := rotationOutput{UserName: "u", NewAccessKeyID: "AKIANEW", PreviousAccessKeyIDs: []string{"AKIAFIRST"},
		KeptInactiveAccessKeyIDs: []string{"AKIAFIRST"}}
	got := strings.Join(o.oldKeyLines([]string{"AKIAFIRST", "AKIAROOM"}), "\n")
	for _, want := range []string{"old key AKIAFIRST kept inactive", "aws iam delete-access-key --user-name u --access-key-id AKIAFIRST", "inactive key AKIAROOM deleted to make room"} {
		if !strings.Contains(got, want) {
			t.Errorf("old key lines lack %q:\n%s", want, got)
		}
	}
	o = rotationOutput{UserName: "u", NewAccessKeyID: "AKIANEW", PreviousAccessKeyIDs: []string{"AKIAOLD"}, DeletedAccessKeyIDs: []string{"AKIAOLD"}}
	if got := o.oldKeyLines([]string{"AKIAOLD"}); len(got) != 1 || got[0] != "old keys deleted: AKIAOLD" {
		t.Errorf("a plain rotation: %q", got)
	}
}

// Every command's help ends with examples, and no flag's default is shown twice.
func TestEveryCommandHasAnExampleAndEachDefaultIsShownOnce(t *testing.T) {
	root := newRoot(&bytes.Buffer{}, &bytes.Buffer{})
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return // cobra's own
		}
		if c.Example == "" {
			t.Errorf("%s has no example in its help", c.CommandPath())
		}
		for _, line := range strings.Split(c.Flags().FlagUsages(), "\n") {
			if strings.Count(line, "(default") > 1 {
				t.Errorf("%s shows a default twice: %s", c.CommandPath(), line)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// Ctrl-C while following a rotation exits 130 and says the rotation goes on.
func TestInterruptingAFollowedRotationExits130(t *testing.T) {
	useLocal(t)
	if _, err := env.CreateManagedUser(context.Background(), localenv.ManagedUser{Name: "interrupted-signer", Keys: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"rotate", "--user", "interrupted-signer", "--grace", "1h", "--wait"}, &syncWriter{w: &out}, &errb)
	}()
	testutil.WaitFor(t, time.Minute, "the rotation to reach GraceWait", func() bool {
		return strings.Contains(out.String(), "waiting 1h0m0s")
	})
	cancel()
	code := <-done
	if code != exitInterrupted || !strings.Contains(errb.String(), "the rotation goes on: keyrotor watch arn:") {
		t.Errorf("Ctrl-C: exit %d, stderr %q; want %d and how to re-attach", code, errb.String(), exitInterrupted)
	}
	arn := regexp.MustCompile(`started (\S+)`).FindStringSubmatch(out.String())[1]
	if code, stdout, stderr := cli(t, "stop", arn); code != exitOK || !strings.Contains(stdout, "It stopped after verifying") {
		t.Errorf("stop after Ctrl-C: exit %d\n%s%s", code, stdout, stderr)
	}
}

// syncWriter lets a test read what a running command writes.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
