package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/spf13/cobra"
)

// stoppedByUser is the Error a stopped execution records (StopExecution's error field).
const stoppedByUser = "StoppedByUser"

func newStopCmd(stdout, _ io.Writer) *cobra.Command {
	var user, parameter string
	var af accountFlags
	cmd := &cobra.Command{
		Use:   "stop EXECUTION_ARN | --user USER [--account ID]",
		Short: "Stop a running rotation and say what the next rotation will do with what it left",
		Long: `Stops a rotation (StopExecution): the execution given, or the one holding --user's lock. A
stopped rotation runs no rollback: it leaves its lock, and the key it created if it got that
far. The next rotation of the user breaks the stale lock and takes over that key, as
docs/steps.md (Stale locks) describes. stop then shows the user's keys and parameter as they
are left and says what the next rotation will do. Exit 1 if nothing was running.`,
		Example: `  keyrotor stop --user s3-signer
  keyrotor stop arn:aws:states:us-east-1:123456789012:execution:keyrotor-rotate:cli-s3-signer-20261126T054240-148Z`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if len(args) == 1 && user != "" {
				return usagef("give an execution ARN or --user, not both")
			}
			if len(args) == 1 {
				if err := checkExecutionARN(args[0]); err != nil {
					return err
				}
			} else {
				if err := checkUserIn(user, "the IAM user whose running rotation to stop", af, parameter); err != nil {
					return err
				}
			}
			hub, err := loadAWS(ctx)
			if err != nil {
				return err
			}
			client := sfn.NewFromConfig(hub)
			var arn string
			if len(args) == 1 {
				arn = args[0]
			} else {
				s, err := readStatus(ctx, hub, af, user, parameter)
				if err != nil {
					return err
				}
				if !s.RotationRunning {
					return &failedError{msg: fmt.Sprintf("no rotation of %s is running (the lock of %s is not held by a running execution); nothing stopped", user, s.Parameter)}
				}
				arn = s.LockHolder
			}
			return stopExecution(ctx, stdout, client, arn)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&user, "user", "", "stop the rotation holding this user's lock")
	fl.StringVar(&parameter, "parameter", "", "with --user: the user's parameter (default /keyrotor/<user>)")
	addAccountFlags(fl, &af, "with --user: the member account of the user")
	return cmd
}

func stopExecution(ctx context.Context, stdout io.Writer, client *sfn.Client, arn string) error {
	d, err := client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	var missing *sfntypes.ExecutionDoesNotExist
	if errors.As(err, &missing) {
		return &failedError{msg: fmt.Sprintf("execution %s does not exist; nothing stopped", arn)}
	}
	if err != nil {
		return fmt.Errorf("describe %s: %w", arn, err)
	}
	if d.Status != sfntypes.ExecutionStatusRunning {
		return &failedError{msg: fmt.Sprintf("execution %s had already ended %s; nothing stopped", arn, d.Status)}
	}
	_, err = client.StopExecution(ctx, &sfn.StopExecutionInput{
		ExecutionArn: aws.String(arn), Error: aws.String(stoppedByUser),
		Cause: aws.String("stopped with keyrotor stop; the next rotation breaks its lock and takes over what it left"),
	})
	if errors.As(err, &missing) {
		return &failedError{msg: fmt.Sprintf("execution %s does not exist; nothing stopped", arn)}
	}
	if err != nil {
		return fmt.Errorf("stop %s: %w", arn, err)
	}
	// StopExecution returns before the history records the abort on some engines: wait for it.
	deadline := time.Now().Add(30 * time.Second)
	var t *timeline
	for {
		events, err := fetchHistory(ctx, client, arn)
		if err != nil {
			return err
		}
		t = &timeline{}
		t.add(events)
		if t.finished() || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if t.Status != "ABORTED" {
		return &failedError{msg: fmt.Sprintf("execution %s had already ended %s; nothing stopped", arn, t.Status)}
	}
	fmt.Fprintf(stdout, "stopped %s\n", arn)
	fmt.Fprintln(stdout, nextRotation(t))
	return nil
}

// nextRotation says, from how far the stopped rotation got, what it left and what the next
// rotation of its user does with it.
func nextRotation(t *timeline) string {
	var doc rotationOutput
	for _, r := range t.Runs {
		if r.done() && r.output != "" && r.Type != "Fail" {
			if o := parseOutput(r.output); o.UserName != "" {
				doc = o
			}
		}
	}
	user := doc.UserName
	if user == "" {
		user = "USER"
	}
	switch {
	case doc.NewAccessKeyID == "":
		return fmt.Sprintf("It stopped before creating a key: nothing changed but its lock, which the next rotation (keyrotor rotate --user %s) breaks.", user)
	case doc.VerifiedAt == "":
		return fmt.Sprintf("It stopped after creating key %s, before verifying it: the next rotation (keyrotor rotate --user %s) breaks the stale lock, takes over %s as the key the stopped rotation created (docs/steps.md, Stale locks), and verifies a key before any old one is touched.", doc.NewAccessKeyID, user, doc.NewAccessKeyID)
	default:
		return fmt.Sprintf("It stopped after verifying key %s, which %s holds and its consumers use: old keys stay as they are (see keyrotor status --user %s); the next rotation (keyrotor rotate --user %s) breaks the stale lock and retires them.", doc.NewAccessKeyID, doc.ParameterName, user, user)
	}
}
