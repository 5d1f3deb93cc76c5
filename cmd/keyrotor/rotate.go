package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/spf13/cobra"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

type rotateFlags struct {
	user, parameter, grace, inactive, format, sesRegion, stateMachine string
	// accounts are the member accounts (--account): the user's, one, for a rotation (the
	// input's accountId); the fleet's accountIds with --all.
	accounts                 []string
	wait, move, changeFormat bool
	// dryRun and json: `rotate --dry-run [--json]` (plan.go).
	dryRun, json bool
}

func (f rotateFlags) input() (rotation.Input, error) {
	in := rotation.Input{UserName: f.user, ParameterName: f.parameter, Format: f.format, Move: f.move, ChangeFormat: f.changeFormat}
	if len(f.accounts) > 1 {
		return in, usagef("--account given %d times: a user is in one account (with --all, name each account of the fleet)", len(f.accounts))
	}
	for _, a := range f.accounts {
		if err := (accountFlags{account: a}).check(); err != nil {
			return in, err
		}
		in.AccountID = a
	}
	if err := checkUser(f.user); err != nil {
		return in, err
	}
	// Begin refuses a parameter or format other than the user's existing ones unless the run
	// asks for the change (docs/steps.md): the flags must name what changes.
	if f.move && f.parameter == "" {
		return in, usagef("--move needs --parameter: the parameter to move %s's key to (tag the user keyrotor:parameter with it first)", f.user)
	}
	if f.changeFormat && f.format == "" {
		return in, usagef("--change-format needs --format: the format the parameter changes to (json or raw)")
	}
	if err := checkParameter(f.parameter); err != nil {
		return in, err
	}
	if f.format != "" && !rotation.ValidFormat(f.format) {
		return in, usagef("--format %q: want json ({\"AccessKeyId\",\"SecretAccessKey\"}), raw (the secret alone) or ses-smtp (adds the SES SMTP user name and password for --ses-region)", f.format)
	}
	if in.SESRegion = f.sesRegion; f.sesRegion != "" && !rotation.ValidSESRegion(f.sesRegion) {
		return in, usagef("--ses-region %q: want an AWS Region code such as eu-west-1 (the region of the consumer's SES SMTP endpoint)", f.sesRegion)
	}
	var err error
	in.GraceSeconds, in.InactiveSeconds, err = f.waits()
	return in, err
}

// waits parses --grace and --inactive; an unset flag stays nil (Begin's default).
func (f rotateFlags) waits() (grace, inactive *int, err error) {
	if f.grace != "" {
		n, err := parseSeconds("grace", f.grace, rotation.MaxGraceSeconds)
		if err != nil {
			return nil, nil, err
		}
		grace = &n
	}
	if f.inactive != "" {
		n, err := parseSeconds("inactive", f.inactive, rotation.MaxInactiveSeconds)
		if err != nil {
			return nil, nil, err
		}
		inactive = &n
	}
	return grace, inactive, nil
}

func newRotateCmd(stdout, stderr io.Writer) *cobra.Command {
	var f rotateFlags
	var ff fleetFlags
	cmd := &cobra.Command{
		Use:   "rotate --user USER [--wait] | --all [--max-concurrency N] [--tolerated-failure-percentage P] [--wait]",
		Short: "Start a rotation of a managed user's access key (and follow it with --wait)",
		Long: `Starts an execution of the keyrotor-rotate state machine for --user. With --wait it follows the
execution's history live (a progress display on a terminal, one line per state otherwise),
prints the new AccessKeyId on success, or the failure's cause and exits 1. --account names the
member account of --user (the input's accountId): the engine acts there through its
keyrotor-target role.

The state machine is --state-machine, else $KEYROTOR_STATE_MACHINE_ARN, else the one named
keyrotor-rotate. Waits take seconds (3600) or durations (90s, 15m, 1h, 2d).

With --all it starts the fleet state machine instead (--fleet-state-machine, else
$KEYROTOR_FLEET_STATE_MACHINE_ARN, else the rotation state machine's ARN + "-fleet"): every
user tagged keyrotor:managed=true (under --path) is rotated by its own execution; --wait
prints each user's outcome as it ends and the summary, and exits 1 if any rotation failed.`,
		Example: `  keyrotor rotate --user s3-signer --wait
  keyrotor rotate --user s3-signer --grace 15m --inactive 1d
  keyrotor rotate --user s3-signer --parameter /keyrotor/signer --move --wait
  keyrotor rotate --account 111111111111 --user s3-signer --wait
  keyrotor rotate --all --path /keyrotor/ --max-concurrency 5 --wait`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.dryRun {
				return dryRun(cmd.Context(), stdout, f, ff)
			}
			if err := checkStateMachineARN("state-machine", f.stateMachine); err != nil {
				return err
			}
			if ff.all {
				ff.toleratedSet = cmd.Flags().Changed("tolerated-failure-percentage")
				ff.concurrencySet = cmd.Flags().Changed("max-concurrency")
				return rotateAll(cmd.Context(), stdout, f, ff)
			}
			if fleetOnly := changedFlags(cmd, fleetOnlyFlags...); len(fleetOnly) > 0 {
				return usagef("%s only with --all (a fleet of every managed user); drop it to rotate --user %s alone", strings.Join(fleetOnly, ", "), f.user)
			}
			in, err := f.input()
			if err != nil {
				return err
			}
			return rotate(cmd.Context(), stdout, stderr, in, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.user, "user", "", "IAM user to rotate (tagged keyrotor:managed=true)")
	fl.StringVar(&f.parameter, "parameter", "", "SSM parameter that holds the key (default: the user's keyrotor:parameter tag, else /keyrotor/<user>)")
	fl.StringVar(&f.grace, "grace", "", "wait between verification and deactivating old keys (default 1h)")
	fl.StringVar(&f.inactive, "inactive", "", "wait between deactivation and deletion of old keys (default 1d)")
	fl.StringVar(&f.format, "format", "", "parameter value: json (default), raw or ses-smtp")
	fl.StringVar(&f.sesRegion, "ses-region", "", "with --format ses-smtp: the region whose SES SMTP endpoint the consumer uses (default: the user's keyrotor:ses-region tag)")
	fl.BoolVar(&f.move, "move", false, "move the key to --parameter (the user's keyrotor:parameter tag must name it); the old parameter is deleted once the new key is verified")
	fl.BoolVar(&f.changeFormat, "change-format", false, "change the parameter's format to --format (its consumers must read the new one)")
	fl.BoolVar(&f.wait, "wait", false, "follow the execution until it ends")
	fl.BoolVar(&f.dryRun, "dry-run", false, "start nothing: show what a rotation of --user (or of each user with --all) would do now, with read calls only; exit 1 if any would be refused")
	fl.BoolVar(&f.json, "json", false, "with --dry-run: the plan as JSON")
	fl.StringVar(&f.stateMachine, "state-machine", "", "ARN of the rotation state machine")
	fl.StringArrayVar(&f.accounts, "account", nil, "member account of --user (12-digit id; the engine acts there through its keyrotor-target role; default: the engine's own); with --all, repeatable: the fleet's accounts")
	addFleetFlags(fl, &ff)
	return cmd
}

func rotate(ctx context.Context, stdout, stderr io.Writer, in rotation.Input, f rotateFlags) error {
	cfg, err := loadAWS(ctx)
	if err != nil {
		return err
	}
	client := sfn.NewFromConfig(cfg)
	machine, err := resolveStateMachine(ctx, client, f.stateMachine)
	if err != nil {
		return err
	}
	// The keys before the rotation: CreateKey may delete an inactive one to make room, which
	// the execution's output does not list (best effort: a caller without
	// iam:ListAccessKeys is told nothing about it).
	before := keysBefore(ctx, cfg, in)
	arn, err := startRotation(ctx, client, machine, in)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "started %s\n", arn)
	if !f.wait {
		fmt.Fprintf(stdout, "follow it with: keyrotor watch %s\n", arn)
		return nil
	}
	return watchExecution(ctx, stdout, client, arn, before)
}

// watchExecution follows a rotation until it ends and reports it; before are the user's keys
// before it started (nil: unknown).
func watchExecution(ctx context.Context, stdout io.Writer, client *sfn.Client, arn string, before []string) error {
	waits := waitSeconds(ctx, client, arn)
	t, err := follow(ctx, client, arn, newProgress(stdout, waits).update)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return &interruptedError{msg: fmt.Sprintf("stopped following; the rotation goes on: keyrotor watch %s (keyrotor stop %s stops it)", arn, arn)}
		}
		return err
	}
	return reportEnd(stdout, t, before)
}

// keysBefore lists the user's access key ids, nil if they cannot be read.
func keysBefore(ctx context.Context, hub aws.Config, in rotation.Input) []string {
	cfg := hub
	if in.AccountID != "" {
		// A member account's keys are read only through the engine's role there; the CLI
		// does not assume a role just for this.
		return nil
	}
	out, err := iam.NewFromConfig(cfg).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(in.UserName)})
	if err != nil {
		return nil
	}
	ids := []string{}
	for _, k := range out.AccessKeyMetadata {
		ids = append(ids, aws.ToString(k.AccessKeyId))
	}
	return ids
}

// reportEnd prints the outcome: the new key and what became of each old key on success, the
// Fail cause (in the CLI's words) otherwise.
func reportEnd(stdout io.Writer, t *timeline, before []string) error {
	if t.Status != "SUCCEEDED" {
		return &failedError{msg: fmt.Sprintf("rotation %s: %s\n%s", strings.ToLower(t.Status), t.Error, inFlags(t.Cause))}
	}
	o := parseOutput(t.Output)
	fmt.Fprintf(stdout, "rotated %s: new access key %s is in %s (version %d)", o.UserName, o.NewAccessKeyID, o.ParameterName, o.ParameterVersion)
	if v := t.verifySeconds(); v >= 0 {
		fmt.Fprintf(stdout, ", verified %.1fs after its creation", v)
	}
	fmt.Fprintln(stdout)
	for _, line := range o.oldKeyLines(before) {
		fmt.Fprintln(stdout, line)
	}
	fmt.Fprintf(stdout, "%d states, %d state transitions, %d Lambda invocations, %.1fs\n",
		len(t.Runs), t.transitions(), t.Invocations, t.Stopped.Sub(t.Started).Seconds())
	return nil
}

// executionNameRE keeps what Step Functions allows in an execution name.
var executionNameRE = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

func startRotation(ctx context.Context, client *sfn.Client, machine string, in rotation.Input) (string, error) {
	input, err := json.Marshal(in)
	if err != nil {
		return "", err
	}
	name := "cli-" + executionNameRE.ReplaceAllString(in.UserName, "-")
	if len(name) > 50 {
		name = name[:50]
	}
	name += "-" + time.Now().UTC().Format("20060102T150405.000Z")
	name = strings.ReplaceAll(name, ".", "-")
	out, err := client.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(machine), Name: aws.String(name), Input: aws.String(string(input)),
	})
	if err != nil {
		return "", fmt.Errorf("start a rotation of %s on %s: %w", in.UserName, machine, err)
	}
	return aws.ToString(out.ExecutionArn), nil
}
