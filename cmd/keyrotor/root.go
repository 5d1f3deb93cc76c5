package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the rotation (or the command's work) failed
	exitUsage  = 2 // bad flags or arguments
)

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
	_, _, err := root.Find(args)
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
	fmt.Fprintln(stderr, "keyrotor: "+err.Error())
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
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usagef("%s: %v", c.CommandPath(), err)
	})
	root.AddCommand(newLocalCmd(stdout, stderr), newRotateCmd(stdout, stderr), newStatusCmd(stdout, stderr),
		newHistoryCmd(stdout, stderr), newDemoCmd(stdout, stderr), newAuditCmd(stdout, stderr))
	return root
}

func checkUser(user string) error {
	if user == "" {
		return usagef("--user is required: the IAM user whose key to rotate (it must carry the tag keyrotor:managed=true)")
	}
	if !rotation.ValidUserName(user) {
		return usagef("--user %q is not an IAM user name (1-64 letters, digits and +=,.@_-)", user)
	}
	return nil
}

func checkParameter(p string) error {
	if p != "" && (!strings.HasPrefix(p, "/") || strings.Contains(p, "..") || len(p) > rotation.MaxParameterNameLength) {
		return usagef("--parameter %q must be an absolute SSM parameter name such as /keyrotor/<user> (no '..', at most %d characters)", p, rotation.MaxParameterNameLength)
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
