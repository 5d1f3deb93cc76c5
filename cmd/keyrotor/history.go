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

	"github.com/keyrotor/keyrotor/internal/fleet"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

func newHistoryCmd(stdout, stderr io.Writer) *cobra.Command {
	var stateMachine, account, user string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history [EXECUTION_ARN] [--user USER] [--account ID] [--json]",
		Short: "Show an execution's states with durations and retries (default: the latest rotation), or a user's rotations",
		Long: `Shows an execution's states with their durations, retries and the errors retried, its status
and outcome: the new AccessKeyId on success, the error and cause otherwise (default: the latest
rotation; with --account, the latest rotation of a user of that member account). For a fleet
execution it adds the fleet's counts and each failed user. --json prints the same as one JSON
object. Exit 1 when the execution failed, timed out or was stopped, or a fleet's rotation failed.

--user lists the user's rotations instead, newest first (among the newest 100 executions):
when each started, how it ended, and its new key or error.`,
		Example: `  keyrotor history
  keyrotor history arn:aws:states:us-east-1:123456789012:execution:keyrotor-rotate:cli-s3-signer-20261126T054240-148Z
  keyrotor history --user s3-signer
  keyrotor history --account 111111111111 --json`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := checkStateMachineARN("state-machine", stateMachine); err != nil {
				return err
			}
			if len(args) == 1 {
				if err := checkExecutionARN(args[0]); err != nil {
					return err
				}
				if user != "" || account != "" {
					return usagef("an execution ARN names one execution: drop --user and --account")
				}
			}
			if err := (accountFlags{account: account}).check(); err != nil {
				return err
			}
			if user != "" {
				if err := checkUserFor(user, "the IAM user whose rotations to list"); err != nil {
					return err
				}
			}
			cfg, err := loadAWS(ctx)
			if err != nil {
				return err
			}
			client := sfn.NewFromConfig(cfg)
			if user != "" {
				return userHistory(ctx, stdout, client, stateMachine, account, user, asJSON)
			}
			var arn string
			if len(args) == 1 {
				arn = args[0]
			} else if arn, err = latestExecution(ctx, client, stateMachine, account); err != nil {
				return err
			}
			events, err := fetchHistory(ctx, client, arn)
			if err != nil {
				return err
			}
			t := &timeline{}
			t.add(events)
			r := newHistoryReport(arn, t, time.Now())
			if isFleetExecution(arn) && t.Status == "SUCCEEDED" {
				var s fleet.Summary
				if json.Unmarshal([]byte(t.Output), &s) == nil {
					r.Fleet = &s
				}
			}
			if asJSON {
				if err := printJSON(stdout, r); err != nil {
					return err
				}
			} else {
				printHistory(stdout, r, t)
			}
			return r.exitError()
		},
	}
	cmd.Flags().StringVar(&stateMachine, "state-machine", "", "ARN of the rotation state machine (for the latest execution or --user)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the history as one JSON object")
	cmd.Flags().StringVar(&account, "account", "", "the latest rotation in this member account (its input's accountId)")
	cmd.Flags().StringVar(&user, "user", "", "list this IAM user's rotations, newest first")
	return cmd
}

// execution is what every history report says of an execution first: which, its status and
// when it ran (Stopped zero while it runs).
type execution struct {
	ExecutionARN string    `json:"execution_arn"`
	Status       string    `json:"status"`
	Started      time.Time `json:"started"`
	Stopped      time.Time `json:"stopped,omitzero"`
}

// userRotation is one line of history --user.
type userRotation struct {
	execution
	NewAccessKeyID string `json:"new_access_key_id,omitempty"`
	Error          string `json:"error,omitempty"`
}

// userHistory lists user's rotations among the machine's newest 100 executions (their input
// names the user, and the account when given).
func userHistory(ctx context.Context, stdout io.Writer, client *sfn.Client, flag, account, user string, asJSON bool) error {
	machine, err := resolveStateMachine(ctx, client, flag)
	if err != nil {
		return err
	}
	out, err := client.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(machine), MaxResults: 100})
	if err != nil {
		return fmt.Errorf("list the executions of %s: %w", machine, err)
	}
	rotations := []userRotation{}
	for _, e := range out.Executions {
		d, err := client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: e.ExecutionArn})
		if err != nil {
			return fmt.Errorf("describe %s: %w", aws.ToString(e.ExecutionArn), err)
		}
		var in rotation.Input
		if json.Unmarshal([]byte(aws.ToString(d.Input)), &in) != nil || !strings.EqualFold(in.UserName, user) || in.AccountID != account {
			continue
		}
		r := userRotation{execution: execution{ExecutionARN: aws.ToString(d.ExecutionArn), Status: string(d.Status), Started: aws.ToTime(d.StartDate).UTC(), Stopped: aws.ToTime(d.StopDate).UTC()}, Error: aws.ToString(d.Error)}
		if d.Status == sfntypes.ExecutionStatusSucceeded {
			r.NewAccessKeyID = parseOutput(aws.ToString(d.Output)).NewAccessKeyID
		}
		rotations = append(rotations, r)
	}
	slices.SortFunc(rotations, func(a, b userRotation) int { return b.Started.Compare(a.Started) })
	if asJSON {
		return printJSON(stdout, map[string]any{"user": user, "rotations": rotations})
	}
	if len(rotations) == 0 {
		return &failedError{msg: fmt.Sprintf("no rotation of %s among the newest 100 executions of %s; start one with: keyrotor rotate --user %s --wait", user, machine, user)}
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STARTED\tSTATUS\tOUTCOME\tEXECUTION")
	for _, r := range rotations {
		outcome := r.NewAccessKeyID
		if r.Error != "" {
			outcome = r.Error
		}
		if outcome == "" {
			outcome = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Started.Format(time.RFC3339), r.Status, outcome, r.ExecutionARN)
	}
	return tw.Flush()
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
	execution
	DurationSeconds   float64     `json:"duration_seconds"`
	States            []*stateRun `json:"states"`
	Transitions       int         `json:"transitions"`
	LambdaInvocations int         `json:"lambda_invocations"`
	NewAccessKeyID    string      `json:"new_access_key_id,omitempty"`
	Parameter         string      `json:"parameter,omitempty"`
	ParameterVersion  int64       `json:"parameter_version,omitempty"`
	Error             string      `json:"error,omitempty"`
	Cause             string      `json:"cause,omitempty"`
	// Fleet is a fleet execution's summary: its counts and failed users.
	Fleet *fleet.Summary `json:"fleet,omitempty"`
}

// exitError is history's verdict: nil for a rotation that succeeded (or still runs), a
// failedError for one that failed, timed out or was stopped, or a fleet with failures.
func (r historyReport) exitError() error {
	switch {
	case r.Status == "SUCCEEDED" && r.Fleet != nil && r.Fleet.Counts.Failed > 0:
		return &failedError{msg: fmt.Sprintf("%d of %d rotations of the fleet failed", r.Fleet.Counts.Failed, r.Fleet.Managed)}
	case r.Status == "SUCCEEDED", r.Status == "RUNNING":
		return nil
	}
	return &failedError{msg: fmt.Sprintf("the execution ended %s", r.Status)}
}

func newHistoryReport(arn string, t *timeline, now time.Time) historyReport {
	end := t.Stopped
	if end.IsZero() {
		end = now
	}
	r := historyReport{
		execution:       execution{ExecutionARN: arn, Status: t.Status, Started: t.Started.UTC(), Stopped: t.Stopped.UTC()},
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

func printHistory(w io.Writer, r historyReport, t *timeline) {
	fmt.Fprintf(w, "execution  %s\n", r.ExecutionARN)
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
		for _, line := range parseOutput(t.Output).oldKeyLines(nil) {
			fmt.Fprintf(w, "           %s\n", line)
		}
	}
	if r.Fleet != nil {
		printFleetSummary(w, r.Fleet, r.DurationSeconds)
	}
	if r.Error != "" || r.Cause != "" {
		fmt.Fprintf(w, "error      %s\ncause      %s\n", r.Error, inFlags(r.Cause))
	}
}
