package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/spf13/cobra"
)

func newHistoryCmd(stdout, stderr io.Writer) *cobra.Command {
	var stateMachine string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history [EXECUTION_ARN] [--json]",
		Short: "Show an execution's states with durations and retries (default: the latest rotation)",
		Long: `Shows an execution's states with their durations, retries and the errors retried, its status
and outcome: the new AccessKeyId on success, the error and cause otherwise (default: the latest
rotation). --json prints the same as one JSON object.`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
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
			if asJSON {
				return printJSON(stdout, newHistoryReport(arn, t, time.Now()))
			}
			printHistory(stdout, arn, t)
			return nil
		},
	}
	cmd.Flags().StringVar(&stateMachine, "state-machine", "", "ARN of the rotation state machine (for the latest execution)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the history as one JSON object")
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

// historyReport is `history --json`: the execution's states and outcome. No field can hold a
// secret (the rotation document is read for ids and names only).
type historyReport struct {
	ExecutionARN      string      `json:"execution_arn"`
	Status            string      `json:"status"`
	Started           time.Time   `json:"started"`
	Stopped           time.Time   `json:"stopped,omitzero"`
	DurationSeconds   float64     `json:"duration_seconds"`
	States            []*stateRun `json:"states"`
	Transitions       int         `json:"transitions"`
	LambdaInvocations int         `json:"lambda_invocations"`
	NewAccessKeyID    string      `json:"new_access_key_id,omitempty"`
	Parameter         string      `json:"parameter,omitempty"`
	ParameterVersion  int64       `json:"parameter_version,omitempty"`
	Error             string      `json:"error,omitempty"`
	Cause             string      `json:"cause,omitempty"`
}

func newHistoryReport(arn string, t *timeline, now time.Time) historyReport {
	end := t.Stopped
	if end.IsZero() {
		end = now
	}
	r := historyReport{
		ExecutionARN: arn, Status: t.Status, Started: t.Started.UTC(), Stopped: t.Stopped.UTC(),
		DurationSeconds: end.Sub(t.Started).Seconds(), States: t.Runs, Transitions: t.transitions(),
		LambdaInvocations: t.Invocations, Error: t.Error, Cause: t.Cause,
	}
	if r.States == nil {
		r.States = []*stateRun{}
	}
	if t.Status == "SUCCEEDED" {
		o := parseOutput(t.Output)
		r.NewAccessKeyID, r.Parameter, r.ParameterVersion = o.NewAccessKeyID, o.ParameterName, o.ParameterVersion
	}
	return r
}

func printHistory(w io.Writer, arn string, t *timeline) {
	r := newHistoryReport(arn, t, time.Now())
	fmt.Fprintf(w, "execution  %s\n", arn)
	fmt.Fprintf(w, "status     %s, started %s, %.2fs\n", r.Status, r.Started.Format(time.RFC3339), r.DurationSeconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, run := range t.Runs {
		name, typ, d, retries := runColumns(run, time.Now())
		if retries != "" {
			retries = "  " + retries
		}
		fmt.Fprintf(tw, "  %s\t%s\t%8s%s\n", name, typ, d, retries)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d states, %d state transitions, %d Lambda invocations\n", len(r.States), r.Transitions, r.LambdaInvocations)
	if r.NewAccessKeyID != "" {
		fmt.Fprintf(w, "new key    %s in %s (version %d)\n", r.NewAccessKeyID, r.Parameter, r.ParameterVersion)
	}
	if r.Error != "" || r.Cause != "" {
		fmt.Fprintf(w, "error      %s\ncause      %s\n", r.Error, r.Cause)
	}
}
