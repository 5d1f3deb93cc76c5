package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/spf13/cobra"
)

func newHistoryCmd(stdout, stderr io.Writer) *cobra.Command {
	var stateMachine string
	cmd := &cobra.Command{
		Use:   "history [EXECUTION_ARN]",
		Short: "Show an execution's states with durations and retries (default: the latest rotation)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, err := loadAWS(ctx)
			if err != nil {
				return err
			}
			client := sfn.NewFromConfig(cfg)
			var arn string
			if len(args) == 1 {
				arn = args[0]
				if !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":execution:") {
					return usagef("%q is not an execution ARN (arn:aws:states:<region>:<account>:execution:<machine>:<name>)", arn)
				}
			} else if arn, err = latestExecution(ctx, client, stateMachine); err != nil {
				return err
			}
			events, err := fetchHistory(ctx, client, arn)
			if err != nil {
				return err
			}
			t := &timeline{}
			t.add(events)
			printHistory(stdout, arn, t)
			return nil
		},
	}
	cmd.Flags().StringVar(&stateMachine, "state-machine", "", "ARN of the rotation state machine (for the latest execution)")
	return cmd
}

func latestExecution(ctx context.Context, client *sfn.Client, flag string) (string, error) {
	machine, err := resolveStateMachine(ctx, client, flag)
	if err != nil {
		return "", err
	}
	out, err := client.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(machine), MaxResults: 100})
	if err != nil {
		return "", fmt.Errorf("list the executions of %s: %w", machine, err)
	}
	var latest string
	var at time.Time
	for _, e := range out.Executions {
		if d := aws.ToTime(e.StartDate); latest == "" || d.After(at) {
			latest, at = aws.ToString(e.ExecutionArn), d
		}
	}
	if latest == "" {
		return "", &failedError{msg: fmt.Sprintf("%s has no executions yet; start one with: keyrotor rotate --user USER --wait", machine)}
	}
	return latest, nil
}

func printHistory(w io.Writer, arn string, t *timeline) {
	fmt.Fprintf(w, "execution  %s\n", arn)
	end := t.Stopped
	if end.IsZero() {
		end = time.Now()
	}
	fmt.Fprintf(w, "status     %s, started %s, %.2fs\n", t.Status, t.Started.UTC().Format(time.RFC3339), end.Sub(t.Started).Seconds())
	for _, r := range t.Runs {
		fmt.Fprintln(w, "  "+describeRun(r, time.Now()))
	}
	fmt.Fprintf(w, "%d states, %d state transitions, %d Lambda invocations\n", len(t.Runs), t.transitions(), t.Invocations)
	if t.Status == "SUCCEEDED" {
		if o := parseOutput(t.Output); o.NewAccessKeyID != "" {
			fmt.Fprintf(w, "new key    %s in %s (version %d)\n", o.NewAccessKeyID, o.ParameterName, o.ParameterVersion)
		}
	}
	if t.Error != "" || t.Cause != "" {
		fmt.Fprintf(w, "error      %s\ncause      %s\n", t.Error, t.Cause)
	}
}
