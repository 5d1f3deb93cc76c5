package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/spf13/pflag"

	"github.com/keyrotor/keyrotor/internal/fleet"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

// envFleetStateMachine names the fleet state machine when --fleet-state-machine is not given;
// without either, it is the rotation state machine's ARN with "-fleet" appended, as the engine
// module names it (<name>-rotate-fleet).
const envFleetStateMachine = rotation.EnvFleetStateMachineARN

// fleetFlags are rotate's flags for --all.
type fleetFlags struct {
	all                          bool
	maxConcurrency, toleratedPct int
	// concurrencySet and toleratedSet: the flags were given (else the listing's defaults).
	concurrencySet, toleratedSet bool
	path, stateMachine, ou       string
}

func addFleetFlags(fl *pflag.FlagSet, f *fleetFlags) {
	fl.BoolVar(&f.all, "all", false, "rotate every user tagged keyrotor:managed=true with one fleet execution")
	fl.IntVar(&f.maxConcurrency, "max-concurrency", fleet.DefaultFleetConcurrency, "with --all: rotations at once")
	fl.IntVar(&f.toleratedPct, "tolerated-failure-percentage", fleet.DefaultToleratedFailurePercentage, "with --all: stop the fleet once more than this share of rotations failed")
	fl.StringVar(&f.ou, "organizational-unit", "", "with --all: also every active account directly in this AWS Organizations OU (ou-…; each must be one of the engine's member accounts)")
	fl.StringVar(&f.path, "path", "", "with --all: only users under this IAM path (e.g. /service-users/)")
	fl.StringVar(&f.stateMachine, "fleet-state-machine", "", "with --all: ARN of the fleet state machine")
}

// fleetInput is the fleet's execution input (statemachine/README.md); unset fields take the
// listusers defaults.
type fleetInput struct {
	MaxConcurrency             *int   `json:"maxConcurrency,omitempty"`
	ToleratedFailurePercentage *int   `json:"toleratedFailurePercentage,omitempty"`
	GraceSeconds               *int   `json:"graceSeconds,omitempty"`
	InactiveSeconds            *int   `json:"inactiveSeconds,omitempty"`
	PathPrefix                 string `json:"pathPrefix,omitempty"`
	// AccountIDs (--account, repeatable): the member accounts whose managed users to rotate.
	AccountIDs []string `json:"accountIds,omitempty"`
	// OrganizationalUnitID (--organizational-unit): add the OU's active accounts.
	OrganizationalUnitID string `json:"organizationalUnitId,omitempty"`
}

func (ff fleetFlags) input(f rotateFlags) (fleetInput, error) {
	var in fleetInput
	if f.user != "" || f.parameter != "" || f.format != "" || f.move || f.changeFormat {
		return in, usagef("--all rotates every managed user with its own parameter: drop --user, --parameter, --format, --move and --change-format (tag a user keyrotor:parameter / keyrotor:format to change its own)")
	}
	if ff.concurrencySet {
		if ff.maxConcurrency < 1 || ff.maxConcurrency > fleet.MaxFleetConcurrency {
			return in, usagef("--max-concurrency %d: want 1 to %d rotations at once", ff.maxConcurrency, fleet.MaxFleetConcurrency)
		}
		in.MaxConcurrency = &ff.maxConcurrency
	}
	if ff.toleratedSet {
		if ff.toleratedPct < 0 || ff.toleratedPct > 100 {
			return in, usagef("--tolerated-failure-percentage %d: want 0 to 100", ff.toleratedPct)
		}
		in.ToleratedFailurePercentage = &ff.toleratedPct
	}
	if ff.path != "" {
		if !strings.HasPrefix(ff.path, "/") || !strings.HasSuffix(ff.path, "/") {
			return in, usagef("--path %q: an IAM path starts and ends with /, e.g. /service-users/", ff.path)
		}
		in.PathPrefix = ff.path
	}
	for _, a := range f.accounts {
		if err := (accountFlags{account: a}).check(); err != nil {
			return in, err
		}
	}
	in.AccountIDs = f.accounts
	if ff.ou != "" && !fleet.ValidParentID(ff.ou) {
		return in, usagef("--organizational-unit %q: want an AWS Organizations OU id (ou-xxxx-xxxxxxxx) or root id (r-xxxx)", ff.ou)
	}
	in.OrganizationalUnitID = ff.ou
	var err error
	in.GraceSeconds, in.InactiveSeconds, err = f.waits()
	return in, err
}

// resolveFleet finds the fleet state machine: the flag, KEYROTOR_FLEET_STATE_MACHINE_ARN, else
// the rotation state machine's ARN + "-fleet".
func resolveFleet(ctx context.Context, client *sfn.Client, ff fleetFlags, rotateFlag string) (string, error) {
	if ff.stateMachine != "" {
		return ff.stateMachine, nil
	}
	if env := os.Getenv(envFleetStateMachine); env != "" {
		return env, nil
	}
	rotate, err := resolveStateMachine(ctx, client, rotateFlag)
	if err != nil {
		return "", err
	}
	return rotate + "-fleet", nil
}

func rotateAll(ctx context.Context, stdout io.Writer, f rotateFlags, ff fleetFlags) error {
	in, err := ff.input(f)
	if err != nil {
		return err
	}
	cfg, err := loadAWS(ctx)
	if err != nil {
		return err
	}
	client := sfn.NewFromConfig(cfg)
	machine, err := resolveFleet(ctx, client, ff, f.stateMachine)
	if err != nil {
		return err
	}
	input, err := json.Marshal(in)
	if err != nil {
		return err
	}
	name := strings.ReplaceAll("cli-fleet-"+time.Now().UTC().Format("20060102T150405.000Z"), ".", "-")
	out, err := client.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(machine), Name: aws.String(name), Input: aws.String(string(input)),
	})
	if err != nil {
		return fmt.Errorf("start the fleet on %s: %w", machine, err)
	}
	arn := aws.ToString(out.ExecutionArn)
	fmt.Fprintf(stdout, "started %s\n", arn)
	if !f.wait {
		fmt.Fprintf(stdout, "follow it with: keyrotor watch %s\n", arn)
		return nil
	}
	return watchFleet(ctx, stdout, client, arn)
}

// watchFleet follows a fleet execution until it ends and reports its summary.
func watchFleet(ctx context.Context, stdout io.Writer, client *sfn.Client, arn string) error {
	w := &fleetWatch{out: stdout, tty: isTerminal(stdout), seen: map[string]bool{}}
	end, err := w.follow(ctx, client, arn)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return &interruptedError{msg: fmt.Sprintf("stopped following; the fleet goes on: keyrotor watch %s", arn)}
		}
		return err
	}
	return reportFleet(stdout, end)
}

// isFleetExecution says whether arn is an execution of a fleet state machine (named
// <rotation machine>-fleet, as the engine module names it).
func isFleetExecution(arn string) bool {
	parts := strings.Split(arn, ":")
	return len(parts) >= 8 && strings.HasSuffix(parts[6], "-fleet")
}

func reportFleet(stdout io.Writer, end *sfn.DescribeExecutionOutput) error {
	if end.Status != sfntypes.ExecutionStatusSucceeded {
		return &failedError{msg: fmt.Sprintf("fleet %s: %s\n%s", strings.ToLower(string(end.Status)), aws.ToString(end.Error), aws.ToString(end.Cause))}
	}
	var s fleet.Summary
	if err := json.Unmarshal([]byte(aws.ToString(end.Output)), &s); err != nil {
		return fmt.Errorf("read the fleet's summary: %w", err)
	}
	took := aws.ToTime(end.StopDate).Sub(aws.ToTime(end.StartDate))
	printFleetSummary(stdout, &s, took.Seconds())
	if s.Counts.Failed > 0 {
		return &failedError{msg: fmt.Sprintf("%d of %d rotations failed", s.Counts.Failed, s.Managed)}
	}
	return nil
}

// printFleetSummary writes a fleet's counts, skipped and failed users, and report.
func printFleetSummary(stdout io.Writer, s *fleet.Summary, seconds float64) {
	fmt.Fprintf(stdout, "fleet done in %.1fs: %d managed users of %d listed; %d rotated, %d failed, %d skipped\n",
		seconds, s.Managed, s.Listed, s.Counts.Rotated, s.Counts.Failed, s.Counts.Skipped)
	if s.ItemsNotListed != "" {
		fmt.Fprintf(stdout, "WARNING: %s\n", s.ItemsNotListed) // the users object was written by something else
	}
	for _, a := range slices.Sorted(maps.Keys(s.ByAccount)) {
		c := s.ByAccount[a]
		fmt.Fprintf(stdout, "account %s: %d rotated, %d failed, %d skipped\n", a, c.Rotated, c.Failed, c.Skipped)
	}
	for _, sk := range s.Skipped {
		fmt.Fprintf(stdout, "skipped %s: %s\n", sk.User+inAccount(sk.AccountID), sk.Error)
	}
	if s.SkippedNotShown > 0 {
		fmt.Fprintf(stdout, "skipped %d more (see the report)\n", s.SkippedNotShown)
	}
	for _, fl := range s.Failed {
		fmt.Fprintf(stdout, "failed %s: %s: %s\n", fl.User+inAccount(fl.AccountID), fl.Error, inFlags(fl.Cause))
		if fl.Execution != "" {
			fmt.Fprintf(stdout, "  keyrotor history %s\n", fl.Execution)
		}
	}
	if s.FailedNotShown > 0 {
		fmt.Fprintf(stdout, "failed %d more (see the report)\n", s.FailedNotShown)
	}
	if s.Retirement != "" {
		fmt.Fprintln(stdout, s.Retirement)
	}
	if s.Report != "" {
		fmt.Fprintf(stdout, "report: %s\n", s.Report)
	}
}

// fleetWatch follows a fleet's Map Run: its counts (DescribeMapRun) and each user's rotation
// as its child execution ends (ListExecutions by mapRunArn, DescribeExecution of the child).
// https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeMapRun.html
type fleetWatch struct {
	out       io.Writer
	tty       bool
	mapRunArn string
	total     int64
	seen      map[string]bool // child executions already reported
	counts    map[string]int  // rotated, failed, skipped
	started   int64
	status    bool // a status line is on screen (terminal)
}

// skippedErrors are the rotation errors the fleet reports as skipped (statemachine/README.md).
var skippedErrors = map[string]bool{rotation.RotationInProgress: true, rotation.UserNotManaged: true, rotation.UserNotFound: true}

func (w *fleetWatch) follow(ctx context.Context, client *sfn.Client, arn string) (*sfn.DescribeExecutionOutput, error) {
	w.counts = map[string]int{}
	interval := 200 * time.Millisecond
	for {
		// Describe first: once it says the fleet ended, the Map Run read after it is complete.
		desc, err := client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			return nil, fmt.Errorf("describe the fleet %s: %w", arn, err)
		}
		progressed, err := w.poll(ctx, client, arn)
		if err != nil {
			return nil, err
		}
		if desc.Status != sfntypes.ExecutionStatusRunning {
			w.clearStatus()
			return desc, nil
		}
		w.showStatus()
		select {
		case <-ctx.Done():
			w.clearStatus()
			return nil, ctx.Err()
		case <-time.After(interval):
		}
		interval = min(interval*2, 2*time.Second)
		if progressed {
			interval = 200 * time.Millisecond
		}
	}
}

// poll reads the Map Run's counts and reports the children that ended since the last poll.
func (w *fleetWatch) poll(ctx context.Context, client *sfn.Client, arn string) (bool, error) {
	if w.mapRunArn == "" {
		runs, err := client.ListMapRuns(ctx, &sfn.ListMapRunsInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			return false, fmt.Errorf("list the Map Runs of %s: %w", arn, err)
		}
		if len(runs.MapRuns) == 0 {
			return false, nil // still listing the users
		}
		w.mapRunArn = aws.ToString(runs.MapRuns[0].MapRunArn)
	}
	mr, err := client.DescribeMapRun(ctx, &sfn.DescribeMapRunInput{MapRunArn: aws.String(w.mapRunArn)})
	if err != nil {
		return false, fmt.Errorf("describe the Map Run %s: %w", w.mapRunArn, err)
	}
	if c := mr.ExecutionCounts; c != nil {
		if w.total == 0 && c.Total > 0 {
			w.total = c.Total
			w.clearStatus()
			fmt.Fprintf(w.out, "rotating %d managed users\n", w.total)
		}
		w.started = c.Total - c.Pending
	}
	progressed := false
	p := sfn.NewListExecutionsPaginator(client, &sfn.ListExecutionsInput{MapRunArn: aws.String(w.mapRunArn), MaxResults: 1000})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return false, fmt.Errorf("list the rotations of %s: %w", w.mapRunArn, err)
		}
		for _, ex := range page.Executions {
			child := aws.ToString(ex.ExecutionArn)
			if ex.Status == sfntypes.ExecutionStatusRunning || w.seen[child] {
				continue
			}
			w.seen[child] = true
			progressed = true
			if err := w.report(ctx, client, child); err != nil {
				return false, err
			}
		}
	}
	return progressed, nil
}

// report prints one user's rotation as its child execution ended: rotated or skipped (the
// child's output says which) or failed (its error and one line of its cause).
func (w *fleetWatch) report(ctx context.Context, client *sfn.Client, child string) error {
	d, err := client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(child)})
	if err != nil {
		return fmt.Errorf("describe the rotation %s: %w", child, err)
	}
	var in struct {
		UserName string `json:"userName"`
	}
	_ = json.Unmarshal([]byte(aws.ToString(d.Input)), &in)
	took := aws.ToTime(d.StopDate).Sub(aws.ToTime(d.StartDate)).Seconds()
	if d.Status != sfntypes.ExecutionStatusSucceeded {
		w.counts["failed"]++
		errName := aws.ToString(d.Error)
		if errName == "" {
			errName = string(d.Status)
		}
		w.line("✘ %-30s failed    %s", in.UserName, firstLine(errName+": "+aws.ToString(d.Cause)))
		return nil
	}
	var out struct{ Status, Error string }
	_ = json.Unmarshal([]byte(aws.ToString(d.Output)), &out)
	if out.Status == "skipped" {
		w.counts["skipped"]++
		w.line("- %-30s skipped   %s", in.UserName, out.Error)
		return nil
	}
	w.counts["rotated"]++
	w.line("✔ %-30s rotated   %6.1fs", in.UserName, took)
	return nil
}

func (w *fleetWatch) line(format string, args ...any) {
	w.clearStatus()
	fmt.Fprintf(w.out, format+"\n", args...)
}

// showStatus redraws one status line on a terminal: started / verified (rotated: the new key
// verified) / failed / skipped of N.
func (w *fleetWatch) showStatus() {
	if !w.tty || w.total == 0 {
		return
	}
	fmt.Fprintf(w.out, "\r\x1b[K%d started, %d verified, %d failed, %d skipped of %d", w.started, w.counts["rotated"], w.counts["failed"], w.counts["skipped"], w.total)
	w.status = true
}

func (w *fleetWatch) clearStatus() {
	if w.status {
		fmt.Fprint(w.out, "\r\x1b[K")
		w.status = false
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// inAccount says " (account A)" for a member account's user, "" for the engine's own.
func inAccount(account string) string {
	if account == "" {
		return ""
	}
	return " (account " + account + ")"
}
