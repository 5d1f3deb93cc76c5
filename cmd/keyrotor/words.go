package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/spf13/cobra"
)

// causeInFlags rewrites the phrases of the engine's causes that speak to a StartExecution
// caller (input fields) into the rotate flags that set those fields. The engine's words stay
// right for the console; the CLI's user never writes the input.
var causeInFlags = strings.NewReplacer(
	`Omit parameterName`, `Omit --parameter`,
	`pass "move": true`, `pass --move`,
	`Omit format`, `Omit --format`,
	`pass "changeFormat": true`, `pass --change-format`,
	`omit accountId`, `omit --account`,
	`accountId %q`, `--account %q`,
	`(omit it for the engine's own account)`, `(omit --account for the engine's own account)`,
	`check userName`, `check --user`,
	`wait for it to finish or stop it, then start again`, `follow it to its end (keyrotor watch <that execution>) or stop it (keyrotor stop <that execution>), then start again`,
)

func inFlags(cause string) string { return causeInFlags.Replace(cause) }

// fleetOnlyFlags are rotate's flags that mean something only with --all.
var fleetOnlyFlags = []string{"max-concurrency", "tolerated-failure-percentage", "organizational-unit", "path", "fleet-state-machine"}

// changedFlags are the names (as --name) of those flags the command line set.
func changedFlags(cmd *cobra.Command, names ...string) []string {
	var set []string
	for _, n := range names {
		if cmd.Flags().Changed(n) {
			set = append(set, "--"+n)
		}
	}
	return set
}

// stateMachineARNRE is a Step Functions state machine ARN
// (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html:
// arn:<partition>:states:<region>:<account>:stateMachine:<name>).
var stateMachineARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$`)

func checkStateMachineARN(flag, arn string) error {
	if arn != "" && !stateMachineARNRE.MatchString(arn) {
		return usagef("--%s %q is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>)", flag, arn)
	}
	return nil
}

// executionARNRE is an execution ARN (a Map Run's child executions have a second name part).
var executionARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_-]{1,80}(/[A-Za-z0-9_-]+)?:[A-Za-z0-9_.-]{1,160}$`)

func checkExecutionARN(arn string) error {
	if !executionARNRE.MatchString(arn) {
		return usagef("%q is not an execution ARN (arn:aws:states:<region>:<account>:execution:<machine>:<name>)", arn)
	}
	return nil
}

// oldKeyLines say what became of every key the user had besides the new one. before are
// the user's keys before the rotation started (nil: not known).
func (o rotationOutput) oldKeyLines(before []string) []string {
	var lines []string
	if len(o.DeletedAccessKeyIDs) > 0 {
		lines = append(lines, "old keys deleted: "+strings.Join(o.DeletedAccessKeyIDs, ", "))
	}
	for _, id := range o.KeptInactiveAccessKeyIDs {
		lines = append(lines, fmt.Sprintf("old key %s kept inactive: no keyrotor parameter ever held it, so keyrotor never deletes it; "+
			"delete it once nothing uses it: aws iam delete-access-key --user-name %s --access-key-id %s", id, o.UserName, id))
	}
	for _, id := range before {
		if id != o.NewAccessKeyID && !slices.Contains(o.PreviousAccessKeyIDs, id) {
			lines = append(lines, fmt.Sprintf("inactive key %s deleted to make room for the new one (IAM allows 2 keys per user)", id))
		}
	}
	return lines
}

// waitSpec is how a Wait state of the definition gets its time.
type waitSpec struct {
	Seconds     *float64
	SecondsPath string
}

// waitSeconds reads the Wait states of the execution's state machine (nil if it cannot).
func waitSeconds(ctx context.Context, client *sfn.Client, arn string) map[string]waitSpec {
	ex, err := client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		return nil
	}
	sm, err := client.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: ex.StateMachineArn})
	if err != nil {
		return nil
	}
	var def struct {
		States map[string]struct {
			Type string
			waitSpec
		}
	}
	if json.Unmarshal([]byte(aws.ToString(sm.Definition)), &def) != nil {
		return nil
	}
	waits := map[string]waitSpec{}
	for name, s := range def.States {
		if s.Type == "Wait" {
			waits[name] = s.waitSpec
		}
	}
	return waits
}

// seconds is the wait's length for a state entered with input; ok false if unknown.
func (w waitSpec) seconds(input string) (float64, bool) {
	if w.Seconds != nil {
		return *w.Seconds, true
	}
	field, ok := strings.CutPrefix(w.SecondsPath, "$.")
	if !ok || strings.ContainsAny(field, ".[") {
		return 0, false
	}
	var in map[string]any
	if json.Unmarshal([]byte(input), &in) != nil {
		return 0, false
	}
	n, ok := in[field].(float64)
	return n, ok
}
