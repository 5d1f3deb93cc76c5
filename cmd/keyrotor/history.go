package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/spf13/cobra"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

func newHistoryCmd(stdout, stderr io.Writer) *cobra.Command {
	var stateMachine, account string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history [EXECUTION_ARN] [--account ID] [--json]",
		Short: "Show an execution's states with durations and retries (default: the latest rotation)",
		Long: `Shows an execution's states with their durations, retries and the errors retried, its status
and outcome: the new AccessKeyId on success, the error and cause otherwise (default: the latest
rotation; with --account, the latest rotation of a user of that member account). --json prints
the same as one JSON object.`,
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
			} else if err := (accountFlags{account: account}).check(); err != nil {
				return err
			} else if arn, err = latestExecution(ctx, client, stateMachine, account); err != nil {
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
	cmd.Flags().StringVar(&account, "account", "", "the latest rotation in this member account (its input's accountId)")
	return cmd
}

// latestExecution is the newest execution of the rotation state machine; with account, the
// newest whose input names that accountId (the 100 newest are looked at).
func latestExecution(ctx context.Context, client *sfn.Client, flag, account string) (string, error) {
	machine, err := resolveStateMachine(ctx, client, flag)
	if err != nil {
		return "", err
	}
	out, err := client.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(machine), MaxResults: 100})
	if err != nil {
		return "", fmt.Errorf("list the executions of %s: %w", machine, err)
	}
	executions := out.Executions
	slices.SortFunc(executions, func(a, b sfntypes.ExecutionListItem) int {
		return aws.ToTime(b.StartDate).Compare(aws.ToTime(a.StartDate))
	})
	for _, e := range executions {
		if account == "" {
			return aws.ToString(e.ExecutionArn), nil
		}
		d, err := client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: e.ExecutionArn})
		if err != nil {
			return "", fmt.Errorf("describe %s: %w", aws.ToString(e.ExecutionArn), err)
		}
		var in rotation.Input
		if json.Unmarshal([]byte(aws.ToString(d.Input)), &in) == nil && in.AccountID == account {
			return aws.ToString(e.ExecutionArn), nil
		}
	}
	if account != "" {
		return "", &failedError{msg: fmt.Sprintf("%s has no recent execution in account %s; start one with: keyrotor rotate --account %s --user USER --wait", machine, account, account)}
	}
	return "", &failedError{msg: fmt.Sprintf("%s has no executions yet; start one with: keyrotor rotate --user USER --wait", machine)}
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
