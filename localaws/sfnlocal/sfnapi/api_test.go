package sfnapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/keyrotor/keyrotor/localaws/sfnlocal/sfnapi"
)

// Every operation's errors reach the sfn SDK client as its typed errors, with a message that
// says what was wrong.
func TestErrorsDecodeAsTypedSDKErrors(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	passArn := h.create(t, "pass", passDef)
	blockArn := h.create(t, "block", blockDef)
	running := h.startBlocked(t, blockArn, "running", `{"n":1}`)
	done, _ := h.srv.StartExecution(ctx, passArn, "done", `{}`)
	h.wait(t, done)
	missingExec := "arn:aws:states:us-east-1:123456789012:execution:pass:nope"

	cases := []struct {
		name    string
		call    func() error
		target  any    // pointer to the typed error expected
		message string // a fragment of its message
	}{
		{"create with unparseable definition is InvalidDefinition", func() error {
			_, err := h.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("bad"), Definition: aws.String(`{"StartAt":"Nowhere","States":{"A":{"Type":"Pass","End":true}}}`), RoleArn: aws.String(roleArn)})
			return err
		}, new(*types.InvalidDefinition), "Nowhere"},
		{"create with a slash in the name is InvalidName", func() error {
			_, err := h.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("a/b"), Definition: aws.String(passDef), RoleArn: aws.String(roleArn)})
			return err
		}, new(*types.InvalidName), "a/b"},
		// name is 1 to 80 characters in Step Functions' API model: refused before the service
		// looks at it, ValidationException as every model constraint (awsmodel).
		{"create with an 81-character name breaks the API model", func() error {
			_, err := h.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String(strings.Repeat("n", 81)), Definition: aws.String(passDef), RoleArn: aws.String(roleArn)})
			return err
		}, new(*types.ValidationException), "Member must have length less than or equal to 80"},
		{"create of an existing name with another definition is StateMachineAlreadyExists", func() error {
			_, err := h.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("pass"), Definition: aws.String(chainDef), RoleArn: aws.String(roleArn)})
			return err
		}, new(*types.StateMachineAlreadyExists), "UpdateStateMachine"},
		{"create with a role that is no IAM role ARN is InvalidArn", func() error {
			_, err := h.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("x"), Definition: aws.String(passDef), RoleArn: aws.String("keyrotor")})
			return err
		}, new(*types.InvalidArn), "roleArn"},
		{"create of an EXPRESS machine is StateMachineTypeNotSupported", func() error {
			_, err := h.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("x"), Definition: aws.String(passDef), RoleArn: aws.String(roleArn), Type: types.StateMachineTypeExpress})
			return err
		}, new(*types.StateMachineTypeNotSupported), "STANDARD"},
		{"describe of an unknown machine is StateMachineDoesNotExist", func() error {
			_, err := h.client.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(machineArn("nope"))})
			return err
		}, new(*types.StateMachineDoesNotExist), machineArn("nope")},
		{"describe of a malformed ARN is InvalidArn", func() error {
			_, err := h.client.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String("pass")})
			return err
		}, new(*types.InvalidArn), "pass"},
		{"update without definition or role is MissingRequiredParameter", func() error {
			_, err := h.client.UpdateStateMachine(ctx, &sfn.UpdateStateMachineInput{StateMachineArn: aws.String(passArn)})
			return err
		}, new(*types.MissingRequiredParameter), "definition"},
		{"update with an invalid definition is InvalidDefinition", func() error {
			_, err := h.client.UpdateStateMachine(ctx, &sfn.UpdateStateMachineInput{StateMachineArn: aws.String(passArn), Definition: aws.String(`{"States":`)})
			return err
		}, new(*types.InvalidDefinition), "Invalid State Machine Definition"},
		{"update of an unknown machine is StateMachineDoesNotExist", func() error {
			_, err := h.client.UpdateStateMachine(ctx, &sfn.UpdateStateMachineInput{StateMachineArn: aws.String(machineArn("nope")), Definition: aws.String(passDef)})
			return err
		}, new(*types.StateMachineDoesNotExist), "nope"},
		{"list with a forged token is InvalidToken", func() error {
			_, err := h.client.ListStateMachines(ctx, &sfn.ListStateMachinesInput{NextToken: aws.String("forged")})
			return err
		}, new(*types.InvalidToken), "forged"},
		{"start on an unknown machine is StateMachineDoesNotExist", func() error {
			_, err := h.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(machineArn("nope"))})
			return err
		}, new(*types.StateMachineDoesNotExist), "nope"},
		{"start with input that is not JSON is InvalidExecutionInput", func() error {
			_, err := h.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(passArn), Input: aws.String(`{"userName":`)})
			return err
		}, new(*types.InvalidExecutionInput), "JSON"},
		{"start with a name holding a space is InvalidName", func() error {
			_, err := h.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(passArn), Name: aws.String("two words")})
			return err
		}, new(*types.InvalidName), "two words"},
		{"start reusing the name of an ended execution is ExecutionAlreadyExists", func() error {
			_, err := h.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(passArn), Name: aws.String("done"), Input: aws.String(`{}`)})
			return err
		}, new(*types.ExecutionAlreadyExists), "ended"},
		{"start reusing a running name with other input is ExecutionAlreadyExists", func() error {
			_, err := h.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(blockArn), Name: aws.String("running"), Input: aws.String(`{"n":2}`)})
			return err
		}, new(*types.ExecutionAlreadyExists), "different input"},
		{"describe of an unknown execution is ExecutionDoesNotExist", func() error {
			_, err := h.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(missingExec)})
			return err
		}, new(*types.ExecutionDoesNotExist), missingExec},
		{"describe with a state machine ARN is InvalidArn", func() error {
			_, err := h.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(passArn)})
			return err
		}, new(*types.InvalidArn), "execution"},
		{"history of an unknown execution is ExecutionDoesNotExist", func() error {
			_, err := h.client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(missingExec)})
			return err
		}, new(*types.ExecutionDoesNotExist), "nope"},
		{"history with a token of another execution is InvalidToken", func() error {
			out, err := h.client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(done), MaxResults: 1})
			if err != nil {
				return err
			}
			_, err = h.client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(running), NextToken: out.NextToken})
			return err
		}, new(*types.InvalidToken), "nextToken"},
		{"stop of an unknown execution is ExecutionDoesNotExist", func() error {
			_, err := h.client.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(missingExec)})
			return err
		}, new(*types.ExecutionDoesNotExist), "nope"},
		{"list executions of an unknown machine is StateMachineDoesNotExist", func() error {
			_, err := h.client.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(machineArn("nope"))})
			return err
		}, new(*types.StateMachineDoesNotExist), "nope"},
		{"list executions with an unknown status filter is ValidationException", func() error {
			_, err := h.client.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(passArn), StatusFilter: "DONE"})
			return err
		}, new(*types.ValidationException), "statusFilter"},
		{"describe machine for an unknown execution is ExecutionDoesNotExist", func() error {
			_, err := h.client.DescribeStateMachineForExecution(ctx, &sfn.DescribeStateMachineForExecutionInput{ExecutionArn: aws.String(missingExec)})
			return err
		}, new(*types.ExecutionDoesNotExist), "nope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("call succeeded, want an error")
			}
			if !errors.As(err, tc.target) {
				t.Fatalf("error %T %v is not %T", err, err, tc.target)
			}
			var api smithy.APIError
			if !errors.As(err, &api) || !strings.Contains(api.ErrorMessage(), tc.message) {
				t.Errorf("message %q does not mention %q", api.ErrorMessage(), tc.message)
			}
		})
	}
}

func TestStateMachineLifecycle(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()

	created, err := h.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("rotate"), Definition: aws.String(passDef), RoleArn: aws.String(roleArn)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(created.StateMachineArn); got != machineArn("rotate") {
		t.Errorf("arn %s, want %s", got, machineArn("rotate"))
	}
	if !created.CreationDate.Equal(start) {
		t.Errorf("creationDate %v, want the clock's %v", created.CreationDate, start)
	}

	// Same name and definition: the same machine (AWS's idempotency), even with another role.
	again, err := h.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("rotate"), Definition: aws.String(passDef), RoleArn: aws.String("arn:aws:iam::123456789012:role/other")})
	if err != nil {
		t.Fatalf("idempotent create: %v", err)
	}
	if aws.ToString(again.StateMachineArn) != aws.ToString(created.StateMachineArn) {
		t.Errorf("idempotent create gave %s", aws.ToString(again.StateMachineArn))
	}

	d, err := h.client.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: created.StateMachineArn})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.Definition) != passDef || aws.ToString(d.RoleArn) != roleArn || d.Status != types.StateMachineStatusActive || d.Type != types.StateMachineTypeStandard || aws.ToString(d.Name) != "rotate" {
		t.Errorf("describe: %+v", d)
	}

	// An execution started before an update keeps the definition it started with.
	before, err := h.srv.StartExecution(ctx, aws.ToString(created.StateMachineArn), "before", "")
	if err != nil {
		t.Fatal(err)
	}
	h.wait(t, before)
	up, err := h.client.UpdateStateMachine(ctx, &sfn.UpdateStateMachineInput{StateMachineArn: created.StateMachineArn, Definition: aws.String(chainDef)})
	if err != nil {
		t.Fatal(err)
	}
	if up.UpdateDate == nil || aws.ToString(up.RevisionId) == "" {
		t.Errorf("update output %+v lacks updateDate/revisionId", up)
	}
	d, _ = h.client.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: created.StateMachineArn})
	if aws.ToString(d.Definition) != chainDef || aws.ToString(d.RoleArn) != roleArn {
		t.Errorf("after update: definition %q role %q", aws.ToString(d.Definition), aws.ToString(d.RoleArn))
	}
	fe, err := h.client.DescribeStateMachineForExecution(ctx, &sfn.DescribeStateMachineForExecutionInput{ExecutionArn: aws.String(before)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(fe.Definition) != passDef || aws.ToString(fe.StateMachineArn) != machineArn("rotate") {
		t.Errorf("DescribeStateMachineForExecution gave definition %q, want the one the execution ran", aws.ToString(fe.Definition))
	}

	// Listing pages through all machines in creation order.
	var want []string
	want = append(want, machineArn("rotate"))
	for _, n := range []string{"m1", "m2", "m3", "m4"} {
		want = append(want, h.create(t, n, passDef))
	}
	var got []string
	pages := readPages(t, sfn.NewListStateMachinesPaginator(h.client, &sfn.ListStateMachinesInput{MaxResults: 2}))
	for _, out := range pages {
		for _, m := range out.StateMachines {
			got = append(got, aws.ToString(m.StateMachineArn))
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") || len(pages) != 3 {
		t.Errorf("listed %v in %d pages, want %v in 3", got, len(pages), want)
	}

	if _, err := h.client.DeleteStateMachine(ctx, &sfn.DeleteStateMachineInput{StateMachineArn: aws.String(machineArn("m2"))}); err != nil {
		t.Fatal(err)
	}
	var gone *types.StateMachineDoesNotExist
	if _, err := h.client.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(machineArn("m2"))}); !errors.As(err, &gone) {
		t.Errorf("describe after delete: %v, want StateMachineDoesNotExist", err)
	}
	if _, err := h.client.DeleteStateMachine(ctx, &sfn.DeleteStateMachineInput{StateMachineArn: aws.String(machineArn("m2"))}); err != nil {
		t.Errorf("deleting again: %v, want success as on AWS", err)
	}
}

func TestExecutionOutcomes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	cases := []struct {
		name, definition, input string
		status                  types.ExecutionStatus
		output, errCode, cause  string
		minDuration             time.Duration
	}{
		{name: "pass adds its result", definition: passDef, input: `{"userName":"s3-signer"}`,
			status: types.ExecutionStatusSucceeded, output: `{"userName":"s3-signer","result":{"greeting":"hello"}}`},
		{name: "an hour's wait passes in virtual time", definition: chainDef, input: `{"n":1}`,
			status: types.ExecutionStatusSucceeded, output: `{"n":1}`, minDuration: time.Hour},
		{name: "a failing task fails the execution with its error and cause", definition: failDef, input: `{}`,
			status: types.ExecutionStatusFailed, errCode: "VerificationFailed", cause: "another user"},
		{name: "a panicking task invoker fails the execution, not the server", definition: `{"StartAt":"P","States":{"P":{"Type":"Task","Resource":"` + lambdaArn("panic") + `","End":true}}}`, input: `{}`,
			status: types.ExecutionStatusFailed, errCode: "*", cause: "stub invoker bug"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			arn := h.create(t, "outcome"+string(rune('a'+i)), tc.definition)
			out, err := h.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(arn), Input: aws.String(tc.input)})
			if err != nil {
				t.Fatal(err)
			}
			name := aws.ToString(out.ExecutionArn)[strings.LastIndex(aws.ToString(out.ExecutionArn), ":")+1:]
			if len(name) != 36 || strings.Count(name, "-") != 4 {
				t.Errorf("generated name %q is not a UUID", name)
			}
			h.wait(t, aws.ToString(out.ExecutionArn))
			d, err := h.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: out.ExecutionArn})
			if err != nil {
				t.Fatal(err)
			}
			if d.Status != tc.status || aws.ToString(d.StateMachineArn) != arn || aws.ToString(d.Name) != name || aws.ToString(d.Input) != tc.input {
				t.Errorf("describe: status %s machine %s name %s input %s", d.Status, aws.ToString(d.StateMachineArn), aws.ToString(d.Name), aws.ToString(d.Input))
			}
			if tc.output != "" {
				jsonEqual(t, aws.ToString(d.Output), tc.output)
			} else if d.Output != nil {
				t.Errorf("output %q on a %s execution", aws.ToString(d.Output), d.Status)
			}
			errOK := aws.ToString(d.Error) == tc.errCode || tc.errCode == "*" && d.Error != nil // "*": any error name
			if !errOK || !strings.Contains(aws.ToString(d.Cause), tc.cause) {
				t.Errorf("error %q cause %q, want %q and a cause with %q", aws.ToString(d.Error), aws.ToString(d.Cause), tc.errCode, tc.cause)
			}
			if d.StartDate == nil || d.StopDate == nil || d.StopDate.Sub(*d.StartDate) < tc.minDuration {
				t.Errorf("dates %v → %v, want at least %v apart", d.StartDate, d.StopDate, tc.minDuration)
			}
		})
	}
	for _, secret := range []string{"s3-signer", "test-secret"} {
		if strings.Contains(h.logs.String(), secret) {
			t.Errorf("%q (execution input or the client's secret key) reached the logs:\n%s", secret, h.logs.String())
		}
	}
	if !strings.Contains(h.logs.String(), `"msg":"execution ended"`) {
		t.Errorf("no execution-ended record in the logs:\n%s", h.logs.String())
	}
}

func TestStartExecutionNameIdempotency(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	arn := h.create(t, "block", blockDef)
	first, err := h.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(arn), Name: aws.String("rotate-1"), Input: aws.String(`{"userName":"a"}`)})
	if err != nil {
		t.Fatal(err)
	}
	h.awaitBlocked(t)
	again, err := h.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(arn), Name: aws.String("rotate-1"), Input: aws.String(`{"userName":"a"}`)})
	if err != nil {
		t.Fatalf("same name and input while running: %v, want the same response", err)
	}
	if aws.ToString(again.ExecutionArn) != aws.ToString(first.ExecutionArn) || !again.StartDate.Equal(*first.StartDate) {
		t.Errorf("second start gave %s@%v, first %s@%v", aws.ToString(again.ExecutionArn), again.StartDate, aws.ToString(first.ExecutionArn), first.StartDate)
	}
	list, err := h.client.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(arn)})
	if err != nil || len(list.Executions) != 1 {
		t.Fatalf("executions after an idempotent start: %v %v, want one", list, err)
	}
	if _, err := h.srv.StopExecution(ctx, aws.ToString(first.ExecutionArn), "", ""); err != nil {
		t.Fatal(err)
	}
	var exists *types.ExecutionAlreadyExists
	if _, err := h.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(arn), Name: aws.String("rotate-1"), Input: aws.String(`{"userName":"a"}`)}); !errors.As(err, &exists) {
		t.Errorf("same name and input after it ended: %v, want ExecutionAlreadyExists", err)
	}
}

func TestStopExecutionAbortsWithErrorAndCause(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	arn := h.create(t, "block", blockDef)
	out, err := h.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(arn), Name: aws.String("to-stop")})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.awaitBlocked(t); got != aws.ToString(out.ExecutionArn) {
		t.Fatalf("blocked execution %s, want %s", got, aws.ToString(out.ExecutionArn))
	}
	d, _ := h.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: out.ExecutionArn})
	if d.Status != types.ExecutionStatusRunning || d.StopDate != nil {
		t.Fatalf("before stop: status %s stopDate %v", d.Status, d.StopDate)
	}
	stopped, err := h.client.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: out.ExecutionArn, Error: aws.String("Operator.Stop"), Cause: aws.String("rotating by hand instead")})
	if err != nil {
		t.Fatal(err)
	}
	if stopped.StopDate == nil {
		t.Error("StopExecution returned no stopDate")
	}
	d, err = h.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: out.ExecutionArn})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != types.ExecutionStatusAborted || aws.ToString(d.Error) != "Operator.Stop" || aws.ToString(d.Cause) != "rotating by hand instead" || d.StopDate == nil {
		t.Errorf("after stop: status %s error %q cause %q stopDate %v", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause), d.StopDate)
	}
	hist, err := h.client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: out.ExecutionArn, ReverseOrder: true, MaxResults: 1})
	if err != nil {
		t.Fatal(err)
	}
	last := hist.Events[0]
	if last.Type != types.HistoryEventTypeExecutionAborted || last.ExecutionAbortedEventDetails == nil ||
		aws.ToString(last.ExecutionAbortedEventDetails.Error) != "Operator.Stop" || aws.ToString(last.ExecutionAbortedEventDetails.Cause) != "rotating by hand instead" {
		t.Errorf("last event %s %+v, want ExecutionAborted with the stop's error and cause", last.Type, last.ExecutionAbortedEventDetails)
	}
	// Stopping again changes nothing.
	if _, err := h.client.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: out.ExecutionArn, Error: aws.String("Other")}); err != nil {
		t.Errorf("second stop: %v", err)
	}
	d, _ = h.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: out.ExecutionArn})
	if aws.ToString(d.Error) != "Operator.Stop" {
		t.Errorf("a second stop rewrote the error to %q", aws.ToString(d.Error))
	}
}

func TestListExecutionsNewestFirstWithStatusFilter(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	arn := h.create(t, "mixed", `{"StartAt":"Route","States":{
		"Route":{"Type":"Choice","Choices":[
			{"Variable":"$.outcome","StringEquals":"fail","Next":"Fail"},
			{"Variable":"$.outcome","StringEquals":"block","Next":"Block"}],"Default":"Done"},
		"Fail":{"Type":"Fail","Error":"Rotation.Failed","Cause":"as asked"},
		"Block":{"Type":"Task","Resource":"`+lambdaArn("block")+`","End":true},
		"Done":{"Type":"Succeed"}}}`)
	outcomes := []string{"ok", "fail", "ok", "block", "fail", "ok", "ok"}
	var started []string
	for i, o := range outcomes {
		x, err := h.srv.StartExecution(ctx, arn, "run-"+string(rune('a'+i)), `{"outcome":"`+o+`"}`)
		if err != nil {
			t.Fatal(err)
		}
		if o == "block" {
			h.awaitBlocked(t)
		} else {
			h.wait(t, x)
		}
		started = append(started, x)
	}
	list := func(filter types.ExecutionStatus) (arns []string, pages int) {
		all := readPages(t, sfn.NewListExecutionsPaginator(h.client, &sfn.ListExecutionsInput{StateMachineArn: aws.String(arn), StatusFilter: filter, MaxResults: 2}))
		for _, out := range all {
			for _, e := range out.Executions {
				arns = append(arns, aws.ToString(e.ExecutionArn))
				if e.Status != filter && filter != "" {
					t.Errorf("%s is %s under filter %s", aws.ToString(e.ExecutionArn), e.Status, filter)
				}
			}
		}
		return arns, len(all)
	}
	newestFirst := func(pick string) []string {
		var out []string
		for i := len(started) - 1; i >= 0; i-- {
			if pick == "" || outcomes[i] == pick {
				out = append(out, started[i])
			}
		}
		return out
	}
	cases := []struct {
		filter types.ExecutionStatus
		want   []string
		pages  int
	}{
		{"", newestFirst(""), 4},
		{types.ExecutionStatusSucceeded, newestFirst("ok"), 2},
		{types.ExecutionStatusFailed, newestFirst("fail"), 1},
		{types.ExecutionStatusRunning, newestFirst("block"), 1},
		{types.ExecutionStatusAborted, nil, 1},
	}
	for _, tc := range cases {
		t.Run("filter "+string(tc.filter), func(t *testing.T) {
			got, pages := list(tc.filter)
			if strings.Join(got, " ") != strings.Join(tc.want, " ") || pages != tc.pages {
				t.Errorf("listed %v in %d pages, want %v in %d", got, pages, tc.want, tc.pages)
			}
		})
	}
}

func TestGetExecutionHistoryPaginatesBothWays(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	arn := h.create(t, "chain", chainDef)
	x, err := h.srv.StartExecution(ctx, arn, "history", `{"userName":"s3-signer"}`)
	if err != nil {
		t.Fatal(err)
	}
	h.wait(t, x)
	all, err := h.srv.History(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 10 {
		t.Fatalf("only %d events for a four-state execution", len(all))
	}
	cases := []struct {
		name       string
		reverse    bool
		maxResults int32
	}{
		{"forward by 3", false, 3},
		{"reverse by 3", true, 3},
		{"forward by 1", false, 1},
		{"reverse by 4", true, 4},
		{"forward in one page", false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ids []int64
			pages := h.historyPages(t, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(x), ReverseOrder: tc.reverse, MaxResults: tc.maxResults})
			for _, page := range pages {
				if tc.maxResults > 0 && len(page) > int(tc.maxResults) {
					t.Errorf("page of %d events, maxResults %d", len(page), tc.maxResults)
				}
				ids = append(ids, page...)
			}
			if len(ids) != len(all) {
				t.Fatalf("%d events over the pages, want %d", len(ids), len(all))
			}
			for i, id := range ids {
				want := all[i].ID
				if tc.reverse {
					want = all[len(all)-1-i].ID
				}
				if id != want {
					t.Fatalf("event %d has id %d, want %d (ids %v)", i, id, want, ids)
				}
			}
			size := len(all)
			if tc.maxResults > 0 {
				size = int(tc.maxResults)
			}
			if want := (len(all) + size - 1) / size; len(pages) != want {
				t.Errorf("%d pages, want %d", len(pages), want)
			}
		})
	}

	t.Run("includeExecutionData=false drops inputs and outputs", func(t *testing.T) {
		full, err := h.client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(x)})
		if err != nil {
			t.Fatal(err)
		}
		lean, err := h.client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(x), IncludeExecutionData: aws.Bool(false)})
		if err != nil {
			t.Fatal(err)
		}
		if full.Events[0].ExecutionStartedEventDetails == nil || !strings.Contains(aws.ToString(full.Events[0].ExecutionStartedEventDetails.Input), "s3-signer") {
			t.Fatalf("full history lacks the input: %+v", full.Events[0].ExecutionStartedEventDetails)
		}
		if len(lean.Events) != len(full.Events) {
			t.Fatalf("%d lean events, %d full", len(lean.Events), len(full.Events))
		}
		for _, e := range lean.Events {
			switch {
			case e.ExecutionStartedEventDetails != nil && e.ExecutionStartedEventDetails.Input != nil,
				e.ExecutionSucceededEventDetails != nil && e.ExecutionSucceededEventDetails.Output != nil,
				e.StateEnteredEventDetails != nil && e.StateEnteredEventDetails.Input != nil,
				e.StateExitedEventDetails != nil && e.StateExitedEventDetails.Output != nil,
				e.LambdaFunctionScheduledEventDetails != nil && e.LambdaFunctionScheduledEventDetails.Input != nil,
				e.LambdaFunctionSucceededEventDetails != nil && e.LambdaFunctionSucceededEventDetails.Output != nil:
				t.Errorf("event %d (%s) still carries execution data", e.Id, e.Type)
			}
			if e.StateEnteredEventDetails != nil && aws.ToString(e.StateEnteredEventDetails.Name) == "" {
				t.Errorf("event %d lost its state name", e.Id)
			}
		}
	})
}

func TestCloseAbortsRunningExecutions(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	arn := h.create(t, "block", blockDef)
	x := h.startBlocked(t, arn, "", "")
	h.srv.Close()
	d, err := h.srv.DescribeExecution(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != "ABORTED" {
		t.Errorf("after Close: %s, want ABORTED", d.Status)
	}
	if _, err := h.srv.StartExecution(ctx, arn, "", ""); !sfnapi.IsCode(err, sfnapi.CodeServiceUnavailable) {
		t.Errorf("start after Close: %v, want ServiceUnavailable", err)
	}
}

// History pages stay consistent while the live history of a running execution grows.
func TestHistoryOfARunningExecutionPagesAcrossGrowth(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	x := h.startBlocked(t, h.create(t, "block", blockDef), "live", `{}`)
	fwd, err := h.client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(x), MaxResults: 2})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := h.client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(x), MaxResults: 2, ReverseOrder: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(fwd.Events) != 2 || fwd.Events[0].Type != types.HistoryEventTypeExecutionStarted || fwd.NextToken == nil {
		t.Fatalf("first page while running: %d events, first %s, token %v", len(fwd.Events), fwd.Events[0].Type, fwd.NextToken)
	}
	runningLen := rev.Events[0].Id
	if _, err := h.srv.StopExecution(ctx, x, "", ""); err != nil {
		t.Fatal(err)
	}
	all, _ := h.srv.History(ctx, x)
	if int64(len(all)) <= runningLen {
		t.Fatalf("stopping added no events (%d before, %d after)", runningLen, len(all))
	}

	ids := []int64{fwd.Events[0].Id, fwd.Events[1].Id}
	for _, page := range h.historyPages(t, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(x), MaxResults: 2, NextToken: fwd.NextToken}) {
		ids = append(ids, page...)
	}
	for i, id := range ids {
		if id != int64(i+1) {
			t.Fatalf("forward ids across the stop %v, want 1..%d", ids, len(all))
		}
	}
	if len(ids) != len(all) || all[len(all)-1].Type != "ExecutionAborted" {
		t.Errorf("forward pages ended at %d of %d events (last %s)", len(ids), len(all), all[len(all)-1].Type)
	}

	// Reverse pages continue downwards from where they started.
	if rev.NextToken == nil {
		t.Fatalf("reverse first page while running has no next token (%d events)", runningLen)
	}
	ids = []int64{rev.Events[0].Id, rev.Events[1].Id}
	for _, page := range h.historyPages(t, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(x), MaxResults: 2, ReverseOrder: true, NextToken: rev.NextToken}) {
		ids = append(ids, page...)
	}
	for i, id := range ids {
		if id != runningLen-int64(i) {
			t.Fatalf("reverse ids %v, want %d..1", ids, runningLen)
		}
	}
	if int64(len(ids)) != runningLen {
		t.Errorf("reverse pages gave %d events, want %d", len(ids), runningLen)
	}
}

func TestExecutionNameRules(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	arn := h.create(t, "names", passDef)
	cases := []struct {
		name  string
		valid bool
	}{
		{"rotate-s3_signer.v2", true},
		{"größe-ü", true},
		{strings.Repeat("n", 80), true},
		{strings.Repeat("n", 81), false},
		{"a b", false},
		{"a\tb", false},
		{"a\u00a0b", false},
		{"a\u0085b", false},
		{"a\x7fb", false},
		{"a:b", false},
		{"a*b", false},
		{"a{b", false},
		{"a/b", false},
		{"a$b", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.srv.StartExecution(ctx, arn, tc.name, "")
			switch {
			case tc.valid && err != nil:
				t.Errorf("rejected: %v", err)
			case !tc.valid && !sfnapi.IsCode(err, sfnapi.CodeInvalidName):
				t.Errorf("got %v, want InvalidName", err)
			}
		})
	}
}

// Deleting a state machine aborts its running executions; their records stay readable.
func TestDeleteStateMachineAbortsItsExecutions(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	arn := h.create(t, "block", blockDef)
	x := h.startBlocked(t, arn, "doomed", "")
	if _, err := h.client.DeleteStateMachine(ctx, &sfn.DeleteStateMachineInput{StateMachineArn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	d, err := h.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(x)})
	if err != nil {
		t.Fatalf("describe after delete: %v", err)
	}
	if d.Status != types.ExecutionStatusAborted || !strings.Contains(aws.ToString(d.Cause), "deleted") {
		t.Errorf("execution %s %q, want ABORTED because the machine was deleted", d.Status, aws.ToString(d.Cause))
	}
	var gone *types.StateMachineDoesNotExist
	if _, err := h.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(arn)}); !errors.As(err, &gone) {
		t.Errorf("start after delete: %v, want StateMachineDoesNotExist", err)
	}
}

// Concurrent starts of one name and input make one execution and all get its ARN.
func TestConcurrentStartsOfOneNameMakeOneExecution(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	arn := h.create(t, "block", blockDef)
	const n = 16
	arns := make(chan string, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			out, err := h.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(arn), Name: aws.String("once"), Input: aws.String(`{"userName":"a"}`)})
			if err != nil {
				errs <- err
				return
			}
			arns <- aws.ToString(out.ExecutionArn)
		}()
	}
	for i := 0; i < n; i++ {
		select {
		case err := <-errs:
			t.Errorf("start: %v", err)
		case got := <-arns:
			if want := "arn:aws:states:us-east-1:123456789012:execution:block:once"; got != want {
				t.Errorf("start gave %s, want %s", got, want)
			}
		}
	}
	list, err := h.srv.ListExecutions(ctx, arn, "")
	if err != nil || len(list) != 1 {
		t.Errorf("%d executions (%v), want 1", len(list), err)
	}
}
