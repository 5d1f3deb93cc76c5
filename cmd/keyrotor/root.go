package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// Exit codes, as the README's CLI section states them.
const (
	exitOK          = 0
	exitFailed      = 1   // the rotation (or the command's work) failed
	exitUsage       = 2   // bad flags or arguments
	exitInterrupted = 130 // Ctrl-C while following: 128 + SIGINT, as shells report it
)

// version is the build's version: `-ldflags "-X main.version=…"` (the Makefile sets it from
// git describe), else the module version go install recorded, else "dev".
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// interruptedError ends a command that the user interrupted (Ctrl-C) while it followed an
// execution; the execution itself goes on.
type interruptedError struct{ msg string }

func (e *interruptedError) Error() string { return e.msg }

// usageError is a mistake in the command line; the message says what to do.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

// failedError ends a command with exitFailed after its output already said why.
type failedError struct{ msg string }

func (e *failedError) Error() string { return e.msg }

// run executes the command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	// Find fails only on an unknown command, an error cobra returns untyped. (Execute adds the
	// help command itself, after this check would have refused it.)
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd(args...)
	_, _, err := root.Find(args)
	// The shell's completion requests (cobra.ShellCompRequestCmd) go to a command Execute adds.
	if len(args) > 0 && strings.HasPrefix(args[0], cobra.ShellCompRequestCmd) {
		err = nil
	}
	if err != nil {
		err = &usageError{msg: err.Error()}
	} else {
		err = root.ExecuteContext(ctx)
	}
	if err == nil {
		return exitOK
	}
	var failed *failedError
	if errors.As(err, &failed) {
		if failed.msg != "" {
			fmt.Fprintln(stderr, "keyrotor: "+failed.msg)
		}
		return exitFailed
	}
	err = explainAWS(err)
	fmt.Fprintln(stderr, "keyrotor: "+err.Error())
	var interrupted *interruptedError
	if errors.As(err, &interrupted) {
		return exitInterrupted
	}
	var usage *usageError
	if errors.As(err, &usage) {
		fmt.Fprintln(stderr, "Run 'keyrotor --help' (or 'keyrotor <command> --help') for usage.")
		return exitUsage
	}
	return exitFailed
}

// usageArgs makes a cobra argument check's failure a usageError, as SetFlagErrorFunc does for
// flags, so that every command-line mistake exits 2.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &usageError{msg: err.Error()}
		}
		return nil
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "keyrotor",
		Short: "Rotate IAM users' access keys into SSM Parameter Store; the secret never leaves AWS",
		Long: `keyrotor rotates the access key of an IAM user tagged keyrotor:managed=true through the
keyrotor-rotate Step Functions state machine: create the key, store it in a SecureString
parameter, verify it, retire the old keys. The secret access key is never shown to you.

Commands use the default AWS credential chain and region. To use the local engine instead,
run 'keyrotor local up' and export the variables it prints.`,
		Example: `  keyrotor local up --user s3-signer        # a local engine, no AWS account needed
  keyrotor rotate --user s3-signer --wait   # rotate one user's key and follow it
  keyrotor status --user s3-signer          # keys, parameter, running rotation
  keyrotor audit --max-age 90               # every key older than 90 days, as AWS Config flags it`,
		Version:       buildVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("keyrotor {{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(flagError)
	root.AddCommand(newLocalCmd(stdout, stderr), newRotateCmd(stdout, stderr), newStatusCmd(stdout, stderr),
		newHistoryCmd(stdout, stderr), newDemoCmd(stdout, stderr), newAuditCmd(stdout, stderr),
		newStopCmd(stdout, stderr), newWatchCmd(stdout, stderr))
	return root
}

// flagError makes pflag's error a usage error that names the command once and, for an
// unknown flag, suggests the command's flags nearest to it.
func flagError(c *cobra.Command, err error) error {
	msg := err.Error()
	name := c.Name()
	if c.HasParent() && c.Parent().HasParent() {
		name = c.Parent().Name() + " " + name
	}
	if unknown, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
		var near []string
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden && (levenshtein(unknown, f.Name) <= 2 || strings.HasPrefix(f.Name, unknown)) {
				near = append(near, "--"+f.Name)
			}
		})
		if len(near) > 0 {
			return usagef("%s: unknown flag --%s; did you mean %s?", name, unknown, strings.Join(near, " or "))
		}
		return usagef("%s: unknown flag --%s", name, unknown)
	}
	return usagef("%s: %s", name, msg)
}

// levenshtein is the edit distance between a and b.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// checkUser checks --user; purpose says what the command does with the user.
func checkUser(user string) error { return checkUserFor(user, "the IAM user whose key to rotate") }

func checkUserFor(user, purpose string) error {
	if user == "" {
		return usagef("--user is required: %s (it must carry the tag keyrotor:managed=true)", purpose)
	}
	if !rotation.ValidUserName(user) {
		return usagef("--user %q is not an IAM user name (1-64 letters, digits and +=,.@_-)", user)
	}
	return nil
}

// checkUserIn checks the flags that name one user's rotation: --user (whose purpose the
// message gives), --account and --parameter.
func checkUserIn(user, purpose string, af accountFlags, parameter string) error {
	if err := checkUserFor(user, purpose); err != nil {
		return err
	}
	if err := af.check(); err != nil {
		return err
	}
	return checkParameter(parameter)
}

func checkParameter(p string) error {
	if p != "" && (!strings.HasPrefix(p, "/") || strings.Contains(p, "..") || len(p) > rotation.MaxParameterNameLength) {
		return usagef("--parameter %q must be an absolute SSM parameter name such as /keyrotor/<user> (no '..', at most %d characters)", p, rotation.MaxParameterNameLength)
	}
	return nil
}

func checkParameterPrefix(p string) error {
	if !strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") || strings.Contains(p, "..") || len(p) > rotation.MaxParameterNameLength {
		return usagef("--parameter-prefix %q must be an SSM path that starts and ends with /, such as /keyrotor/", p)
	}
	return nil
}

// parseSeconds reads a wait given as seconds ("90") or a duration ("90s", "15m", "1h", "2d").
func parseSeconds(flag, s string, maxSeconds int) (int, error) {
	s = strings.TrimSpace(s)
	var secs float64
	if n, err := strconv.Atoi(s); err == nil {
		secs = float64(n)
	} else if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, usagef("--%s %q: want seconds (3600) or a duration (90s, 15m, 1h, 2d)", flag, s)
		}
		secs = float64(n) * 86400
	} else {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, usagef("--%s %q: want seconds (3600) or a duration (90s, 15m, 1h, 2d)", flag, s)
		}
		secs = d.Seconds()
	}
	if secs != float64(int(secs)) {
		return 0, usagef("--%s %q: whole seconds only", flag, s)
	}
	if secs < 0 || int(secs) > maxSeconds {
		return 0, usagef("--%s %q: must be between 0 and %d seconds", flag, s, maxSeconds)
	}
	return int(secs), nil
}
