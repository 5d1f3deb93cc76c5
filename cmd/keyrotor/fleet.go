package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/spf13/pflag"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// envFleetStateMachine names the fleet state machine when --fleet-state-machine is not given;
// without either, it is the rotation state machine's ARN with "-fleet" appended, as the engine
// module names it (<name>-rotate-fleet).
const envFleetStateMachine = "KEYROTOR_FLEET_STATE_MACHINE_ARN"

// fleetFlags are rotate's flags for --all.
type fleetFlags struct {
	all                          bool
	maxConcurrency, toleratedPct int
	path, stateMachine           string
}

func addFleetFlags(fl *pflag.FlagSet, f *fleetFlags) {
	fl.BoolVar(&f.all, "all", false, "rotate every user tagged keyrotor:managed=true with one fleet execution")
	fl.IntVar(&f.maxConcurrency, "max-concurrency", 0, "with --all: rotations at once (default 10)")
	fl.IntVar(&f.toleratedPct, "tolerated-failure-percentage", -1, "with --all: stop the fleet once more than this share of rotations failed (default 100)")
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
}

func (ff fleetFlags) input(f rotateFlags) (fleetInput, error) {
	var in fleetInput
	if f.user != "" || f.parameter != "" || f.format != "" {
		return in, usagef("--all rotates every managed user with its own parameter: drop --user, --parameter and --format (tag a user keyrotor:parameter / keyrotor:format to change its own)")
	}
	if ff.maxConcurrency != 0 {
		if ff.maxConcurrency < 1 || ff.maxConcurrency > rotation.MaxFleetConcurrency {
			return in, usagef("--max-concurrency %d: want 1 to %d rotations at once", ff.maxConcurrency, rotation.MaxFleetConcurrency)
		}
		in.MaxConcurrency = &ff.maxConcurrency
	}
	if ff.toleratedPct != -1 {
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
		fmt.Fprintf(stdout, "follow it with: keyrotor history %s\n", arn)
		return nil
	}
	w := &fleetWatch{out: stdout, tty: isTerminal(stdout), events: map[int64]sfntypes.HistoryEvent{}}
	end, err := w.follow(ctx, client, arn)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("stopped following; the fleet goes on: keyrotor history %s", arn)
		}
		return err
	}
	return reportFleet(stdout, end)
}

// fleetSummary is the fleet's output.
type fleetSummary struct {
	Listed  int      `json:"listed"`
	Managed int      `json:"managed"`
	Rotated []string `json:"rotated"`
	Failed  []struct {
		User, Error, Cause, Execution string
	} `json:"failed"`
	Skipped []struct{ User, Error string } `json:"skipped"`
}

func reportFleet(stdout io.Writer, end *sfn.DescribeExecutionOutput) error {
	if end.Status != sfntypes.ExecutionStatusSucceeded {
		return &failedError{msg: fmt.Sprintf("fleet %s: %s\n%s", strings.ToLower(string(end.Status)), aws.ToString(end.Error), aws.ToString(end.Cause))}
	}
	var s fleetSummary
	if err := json.Unmarshal([]byte(aws.ToString(end.Output)), &s); err != nil {
		return fmt.Errorf("read the fleet's summary: %w", err)
	}
	took := aws.ToTime(end.StopDate).Sub(aws.ToTime(end.StartDate))
	fmt.Fprintf(stdout, "fleet done in %.1fs: %d managed users of %d listed; %d rotated, %d failed, %d skipped\n",
		took.Seconds(), s.Managed, s.Listed, len(s.Rotated), len(s.Failed), len(s.Skipped))
	for _, sk := range s.Skipped {
		fmt.Fprintf(stdout, "skipped %s: %s\n", sk.User, sk.Error)
	}
	for _, fl := range s.Failed {
		fmt.Fprintf(stdout, "failed %s: %s: %s\n", fl.User, fl.Error, fl.Cause)
		if fl.Execution != "" {
			fmt.Fprintf(stdout, "  keyrotor history %s\n", fl.Execution)
		}
	}
	if len(s.Failed) > 0 {
		return &failedError{msg: fmt.Sprintf("%d of %d rotations failed", len(s.Failed), s.Managed)}
	}
	return nil
}

// fleetWatch follows a fleet's history and prints each user's rotation as it ends.
type fleetWatch struct {
	out    io.Writer
	tty    bool
	events map[int64]sfntypes.HistoryEvent
	lastID int64
	total  int
	counts map[string]int // rotated, failed, skipped
	status bool           // a status line is on screen (terminal)
}

// skippedErrors are the rotation errors the fleet reports as skipped (statemachine/README.md).
var skippedErrors = map[string]bool{rotation.RotationInProgress: true, rotation.UserNotManaged: true, rotation.UserNotFound: true}

func (w *fleetWatch) follow(ctx context.Context, client *sfn.Client, arn string) (*sfn.DescribeExecutionOutput, error) {
	w.counts = map[string]int{}
	interval := 200 * time.Millisecond
	for {
		// Describe first: once it says the fleet ended, the history read after it is complete.
		desc, err := client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			return nil, fmt.Errorf("describe the fleet %s: %w", arn, err)
		}
		fresh, err := w.newEvents(ctx, client, arn)
		if err != nil {
			return nil, err
		}
		for _, ev := range fresh {
			w.add(ev)
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
		if len(fresh) > 0 {
			interval = 200 * time.Millisecond
		}
	}
}

// newEvents reads the history newest first until it reaches events already seen, so each poll
// costs what happened since the last one, and returns the new events oldest first.
func (w *fleetWatch) newEvents(ctx context.Context, client *sfn.Client, arn string) ([]sfntypes.HistoryEvent, error) {
	var fresh []sfntypes.HistoryEvent
	p := sfn.NewGetExecutionHistoryPaginator(client, &sfn.GetExecutionHistoryInput{
		ExecutionArn: aws.String(arn), ReverseOrder: true, MaxResults: 1000,
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the history of %s: %w", arn, err)
		}
		done := false
		for _, ev := range page.Events {
			if ev.Id <= w.lastID {
				done = true
				break
			}
			fresh = append(fresh, ev)
		}
		if done {
			break
		}
	}
	sort.Slice(fresh, func(i, j int) bool { return fresh[i].Id < fresh[j].Id })
	if len(fresh) > 0 {
		w.lastID = fresh[len(fresh)-1].Id
	}
	return fresh, nil
}

// childDescription is what a .sync:2 Task's result (or its failure's Cause) says of the
// rotation execution.
type childDescription struct {
	ExecutionArn        string
	Input               struct{ UserName string }
	Status, Error       string
	Cause               string
	StartDate, StopDate int64
}

func (w *fleetWatch) add(ev sfntypes.HistoryEvent) {
	w.events[ev.Id] = ev
	switch {
	case ev.MapStateStartedEventDetails != nil && w.total == 0:
		w.total = int(ev.MapStateStartedEventDetails.Length)
		w.clearStatus()
		fmt.Fprintf(w.out, "rotating %d managed users\n", w.total)
	case ev.TaskSucceededEventDetails != nil:
		var c childDescription
		if json.Unmarshal([]byte(aws.ToString(ev.TaskSucceededEventDetails.Output)), &c) != nil || c.Input.UserName == "" {
			return
		}
		w.counts["rotated"]++
		w.line("✔ %-30s rotated   %6.1fs", c.Input.UserName, float64(c.StopDate-c.StartDate)/1000)
	case ev.TaskFailedEventDetails != nil:
		d := ev.TaskFailedEventDetails
		var c childDescription
		if aws.ToString(d.Error) == "States.TaskFailed" && json.Unmarshal([]byte(aws.ToString(d.Cause)), &c) == nil && c.Input.UserName != "" {
			if skippedErrors[c.Error] {
				w.counts["skipped"]++
				w.line("- %-30s skipped   %s", c.Input.UserName, c.Error)
				return
			}
			w.counts["failed"]++
			w.line("✘ %-30s failed    %s", c.Input.UserName, firstLine(c.Error+": "+c.Cause))
			return
		}
		// The child could not be started (a retry may follow); name the user from the Task's
		// scheduling event.
		w.line("! %-30s %s", w.userOf(ev), aws.ToString(d.Error))
	}
}

// userOf walks back from a Task event to its TaskScheduled event and reads the user from the
// child's input.
func (w *fleetWatch) userOf(ev sfntypes.HistoryEvent) string {
	for range 8 {
		if ev.TaskScheduledEventDetails != nil {
			var p struct{ Input struct{ UserName string } }
			if json.Unmarshal([]byte(aws.ToString(ev.TaskScheduledEventDetails.Parameters)), &p) == nil && p.Input.UserName != "" {
				return p.Input.UserName
			}
			return "?"
		}
		prev, ok := w.events[ev.PreviousEventId]
		if !ok {
			break
		}
		ev = prev
	}
	return "?"
}

func (w *fleetWatch) line(format string, args ...any) {
	w.clearStatus()
	fmt.Fprintf(w.out, format+"\n", args...)
}

// showStatus redraws one status line on a terminal.
func (w *fleetWatch) showStatus() {
	if !w.tty || w.total == 0 {
		return
	}
	done := w.counts["rotated"] + w.counts["failed"] + w.counts["skipped"]
	fmt.Fprintf(w.out, "\r\x1b[K%d/%d done: %d rotated, %d failed, %d skipped", done, w.total, w.counts["rotated"], w.counts["failed"], w.counts["skipped"])
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
