package localenv_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/harness/testenv"
	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// env is one local engine shared by the package's tests (one moto per test package);
// sessions, the AssumeRole session each of its functions signs with.
var (
	env      *localenv.Env
	sessions testenv.Sessions
)

func TestMain(m *testing.M) {
	// The wall clock: IAM propagation (the proxy's delay) runs in real time, so retry backoffs
	// must too. Rotations use zero waits. Two member accounts: members_test.go.
	os.Exit(testenv.Run(m, &env, localenv.Options{Accounts: 2, OnCredentials: sessions.Record}))
}

var userSeq atomic.Int64

// rotateUser creates a managed user with one key, held by its parameter as an earlier rotation
// would have left it, and runs one rotation of it to its end.
func rotateUser(t *testing.T, input map[string]any) (string, *sfn.DescribeExecutionOutput) {
	t.Helper()
	ctx := context.Background()
	user := fmt.Sprintf("le-user-%d", userSeq.Add(1))
	if _, err := env.CreateManagedUser(ctx, localenv.ManagedUser{Name: user, Keys: 1, Parameter: "/keyrotor/" + user}); err != nil {
		t.Fatal(err)
	}
	in := map[string]any{"userName": user, "graceSeconds": 0, "inactiveSeconds": 0}
	for k, v := range input {
		in[k] = v
	}
	b, _ := json.Marshal(in)
	client := env.SFN()
	start, err := client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(env.StateMachineARN), Input: aws.String(string(b))})
	if err != nil {
		t.Fatal(err)
	}
	return user, waitExecution(t, aws.ToString(start.ExecutionArn))
}

func waitExecution(t *testing.T, arn string) *sfn.DescribeExecutionOutput {
	t.Helper()
	return waitExecutionIn(t, env, arn, time.Minute)
}

// waitExecutionIn waits until execution arn of engine e has ended and describes it.
func waitExecutionIn(t *testing.T, e *localenv.Env, arn string, timeout time.Duration) *sfn.DescribeExecutionOutput {
	t.Helper()
	var out *sfn.DescribeExecutionOutput
	testutil.WaitFor(t, timeout, "execution "+arn+" to end", func() bool {
		var err error
		if out, err = e.SFN().DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)}); err != nil {
			t.Fatal(err)
		}
		return out.Status != sfntypes.ExecutionStatusRunning
	})
	return out
}

func TestRotationRunsThroughTheDeployedStateMachine(t *testing.T) {
	user, out := rotateUser(t, nil)
	if out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("rotation of %s: %s %s %s", user, out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	var doc rotation.Rotation
	if err := json.Unmarshal([]byte(aws.ToString(out.Output)), &doc); err != nil {
		t.Fatal(err)
	}
	// Once stored, the sealed secret leaves the state: the output (which a fleet's child
	// history records whole) carries no ciphertext of it.
	if strings.Contains(aws.ToString(out.Output), "sealedSecret") {
		t.Errorf("the rotation's output carries the sealed secret: %.200s", aws.ToString(out.Output))
	}
	keys, err := iam.NewFromConfig(env.AdminConfig()).ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.AccessKeyMetadata) != 1 || aws.ToString(keys.AccessKeyMetadata[0].AccessKeyId) != doc.NewAccessKeyID {
		t.Errorf("after the rotation %s has %d keys, want only the new %s", user, len(keys.AccessKeyMetadata), doc.NewAccessKeyID)
	}
}

func TestRefusedRotationEndsInFailWithTheLambdasErrorName(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		input     string
		wantError string
	}{
		{"missing user", `{"userName":"le-nobody"}`, rotation.UserNotFound},
		{"parameter outside the prefix", `{"userName":"le-nobody","parameterName":"/elsewhere/x"}`, rotation.InvalidInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start, err := env.SFN().StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(env.StateMachineARN), Input: aws.String(tc.input)})
			if err != nil {
				t.Fatal(err)
			}
			out := waitExecution(t, aws.ToString(start.ExecutionArn))
			if out.Status != sfntypes.ExecutionStatusFailed || aws.ToString(out.Error) != tc.wantError || aws.ToString(out.Cause) == "" {
				t.Errorf("got %s %q %q, want FAILED %s with a cause", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), tc.wantError)
			}
		})
	}
}

// Every function signs with its own role's session, and calls only actions of its own policy.
func TestFunctionsCallAWSOnlyWithTheirOwnRolesActions(t *testing.T) {
	env.Proxy.ResetCalls()
	if _, out := rotateUser(t, nil); out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("rotation: %s %s", aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	byKey := map[string]string{}
	for _, fn := range deployed.Functions {
		id, expires := sessions.Of(fn)
		if !strings.HasPrefix(id, "ASIA") || time.Until(expires) < 10*time.Minute {
			t.Errorf("%s signs with %s expiring %v, want an AssumeRole session", fn, id, expires)
		}
		byKey[id] = fn
	}
	seen := map[string]bool{}
	for _, c := range env.Proxy.Calls() {
		fn, ok := byKey[c.AccessKeyID]
		if !ok {
			continue // the test's own admin calls, or the consumer's new key
		}
		seen[fn] = true
		doc, err := env.Engine.FunctionPolicy(fn)
		if err != nil {
			t.Fatal(err)
		}
		if action := c.Service + ":" + c.Action; !slices.Contains(doc.AllowedActions(), action) {
			t.Errorf("%s called %s, which its policy does not grant", fn, action)
		}
	}
	for _, fn := range rotation.Functions() {
		if !seen[fn.Name] {
			t.Errorf("no AWS call signed by %s's role session was seen", fn.Name)
		}
	}
}

func TestRolesCarryTheEngineModulesActions(t *testing.T) {
	client := iam.NewFromConfig(env.AdminConfig())
	for _, fn := range deployed.Functions {
		out, err := client.GetRolePolicy(context.Background(), &iam.GetRolePolicyInput{
			RoleName: aws.String(env.Engine.FunctionName(fn)), PolicyName: aws.String(env.Engine.FunctionName(fn)),
		})
		if err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
		doc, err := env.Engine.FunctionPolicy(fn)
		if err != nil {
			t.Fatal(err)
		}
		text, err := url.QueryUnescape(aws.ToString(out.PolicyDocument)) // IAM returns it URL-encoded
		if err != nil {
			t.Fatal(err)
		}
		for _, action := range doc.AllowedActions() {
			if !strings.Contains(text, `"`+action+`"`) {
				t.Errorf("role %s lacks %s", fn, action)
			}
		}
	}
}

func TestDefinitionHasEveryPlaceholderFilledWithADeployedFunction(t *testing.T) {
	if strings.Contains(env.Definition, "${") {
		t.Fatalf("a placeholder is left in the deployed definition")
	}
	var def struct {
		States map[string]struct {
			Type, Resource string
		}
	}
	if err := json.Unmarshal([]byte(env.Definition), &def); err != nil {
		t.Fatal(err)
	}
	deployed := map[string]bool{}
	for _, arn := range env.FunctionARNs {
		deployed[arn] = true
	}
	tasks := 0
	for name, s := range def.States {
		if s.Type != "Task" {
			continue
		}
		tasks++
		if !deployed[s.Resource] {
			t.Errorf("state %s invokes %s, which is not deployed", name, s.Resource)
		}
	}
	if tasks == 0 {
		t.Fatal("the definition has no Task states")
	}
}

func TestInvokeTaskReportsAFunctionErrorAsTheLambdasNamedFailure(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, resource, input, wantError string
	}{
		{"direct", env.FunctionARNs["createkey"],
			`{"action":"begin","executionId":"arn:aws:states:us-east-1:123456789012:execution:keyrotor-rotate:x","rotation":{"userName":"le-missing"}}`,
			rotation.UserNotFound},
		{"optimized integration", "arn:aws:states:::lambda:invoke",
			`{"FunctionName":"` + env.FunctionARNs["createkey"] + `","Payload":{"action":"begin","executionId":"arn:aws:states:us-east-1:123456789012:execution:keyrotor-rotate:y","rotation":{"userName":"le-missing"}}}`,
			rotation.UserNotFound},
		{"unknown function", "arn:aws:lambda:us-east-1:123456789012:function:nope", `{}`, "Lambda.ResourceNotFoundException"},
		{"unserved resource", "arn:aws:states:::sqs:sendMessage", `{}`, "States.Runtime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.InvokeTask(ctx, sfnlocal.TaskRequest{Resource: tc.resource, Input: json.RawMessage(tc.input), StateName: "Begin"})
			var te *sfnlocal.TaskError
			if !errors.As(err, &te) || te.Failure.Error != tc.wantError {
				t.Fatalf("got %v, want task failure %s", err, tc.wantError)
			}
			if tc.wantError == rotation.UserNotFound {
				var doc struct{ ErrorType, ErrorMessage string }
				if json.Unmarshal([]byte(te.Failure.Cause), &doc) != nil || doc.ErrorType != tc.wantError || doc.ErrorMessage == "" {
					t.Errorf("cause is not the Lambda's error document: %s", te.Failure.Cause)
				}
			}
		})
	}
}

func TestRefreshedCredentialsAreNewSessionsTheFunctionsUse(t *testing.T) {
	before, _ := sessions.Of("createkey")
	if err := env.RefreshCredentials(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, _ := sessions.Of("createkey")
	if after == before || !strings.HasPrefix(after, "ASIA") {
		t.Fatalf("createkey signs with %s after the refresh, %s before", after, before)
	}
	env.Proxy.ResetCalls()
	if _, out := rotateUser(t, nil); out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("rotation after the refresh: %s %s", aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	used := false
	for _, c := range env.Proxy.Calls() {
		if c.AccessKeyID == before {
			t.Errorf("a call was signed with the replaced session %s", before)
		}
		used = used || c.AccessKeyID == after
	}
	if !used {
		t.Errorf("no call was signed with the new session %s", after)
	}
}

func TestPropagationDelayIsRetriedAsKeyNotYetValid(t *testing.T) {
	env.Proxy.SetPropagationDelay(1500 * time.Millisecond)
	defer env.Proxy.SetPropagationDelay(0)
	user, out := rotateUser(t, nil)
	if out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("rotation of %s: %s %s", user, aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	h, err := env.SFN().GetExecutionHistory(context.Background(), &sfn.GetExecutionHistoryInput{ExecutionArn: out.ExecutionArn, MaxResults: 1000})
	if err != nil {
		t.Fatal(err)
	}
	retried := 0
	for _, ev := range h.Events {
		if d := ev.LambdaFunctionFailedEventDetails; d != nil && aws.ToString(d.Error) == rotation.KeyNotYetValid {
			retried++
		}
	}
	if retried == 0 {
		t.Errorf("the new key was refused for 1.5 s but VerifyKey never failed with %s", rotation.KeyNotYetValid)
	}
}

func TestFaultRulesReachTheFunctions(t *testing.T) {
	// ListUserTags throttled for the SDK's three attempts: Begin fails Throttled once and the
	// state machine's Retry succeeds. (Not CreateAccessKey: CreateKey resends a throttled one
	// itself, so its throttles never reach the state machine.)
	env.Proxy.AddRule(faultproxy.Rule{Service: "iam", Action: "ListUserTags", Times: 3, Fault: faultproxy.Throttle})
	defer env.Proxy.ClearRules()
	_, out := rotateUser(t, nil)
	if out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("rotation: %s %s", aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	h, err := env.SFN().GetExecutionHistory(context.Background(), &sfn.GetExecutionHistoryInput{ExecutionArn: out.ExecutionArn, MaxResults: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var errs []string
	for _, ev := range h.Events {
		if d := ev.LambdaFunctionFailedEventDetails; d != nil {
			errs = append(errs, aws.ToString(d.Error))
		}
	}
	if !slices.Contains(errs, rotation.Throttled) {
		t.Errorf("failed attempts %v, want a %s the Retry absorbed", errs, rotation.Throttled)
	}
}

func TestUpWithoutBuiltFunctionsSaysToRunMakeBuild(t *testing.T) {
	root := t.TempDir()
	for _, dir := range []string{"infra/modules/engine"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := localenv.Up(context.Background(), localenv.Options{Root: root})
	if !errors.Is(err, localenv.ErrNotBuilt) || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("got %v, want ErrNotBuilt naming make build", err)
	}
}

// On a virtual clock a real rotation with the default waits (3,600 s grace, 86,400 s
// inactive) completes at once in real time, its history dated on the AWS clock: more than 25 h
// between its first and last events. The new key's propagation delay passes on that clock too,
// through VerifyKey's KeyNotYetValid retries.
func TestVirtualClockRunsARotationWithDefaultWaitsAtOnce(t *testing.T) {
	t.Parallel() // its own engine: it overlaps only the other tests that have theirs
	ctx := context.Background()
	clock := sfnlocal.NewVirtualClock(time.Now())
	venv, err := localenv.Up(ctx, localenv.Options{Clock: clock, PropagationDelay: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer venv.Close()
	if _, err := venv.CreateManagedUser(ctx, localenv.ManagedUser{Name: "le-virtual", Keys: 1, Parameter: "/keyrotor/le-virtual"}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	start, err := venv.SFN().StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(venv.StateMachineARN),
		Input: aws.String(`{"userName":"le-virtual"}`)})
	if err != nil {
		t.Fatal(err)
	}
	out := waitExecutionIn(t, venv, aws.ToString(start.ExecutionArn), time.Minute)
	real := time.Since(began)
	if out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("rotation: %s %s %s", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	hist, err := venv.SFN().GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: start.ExecutionArn, MaxResults: 1000})
	if err != nil {
		t.Fatal(err)
	}
	first, last := aws.ToTime(hist.Events[0].Timestamp), aws.ToTime(hist.Events[len(hist.Events)-1].Timestamp)
	if span := last.Sub(first); span < 25*time.Hour {
		t.Errorf("history spans %v of the AWS clock (%v to %v), want at least 25 h: the 3600 s and 86400 s waits", span, first, last)
	}
	retried := 0
	for _, ev := range hist.Events {
		switch {
		case ev.TaskFailedEventDetails != nil && aws.ToString(ev.TaskFailedEventDetails.Error) == rotation.KeyNotYetValid,
			ev.LambdaFunctionFailedEventDetails != nil && aws.ToString(ev.LambdaFunctionFailedEventDetails.Error) == rotation.KeyNotYetValid:
			retried++
		}
	}
	if retried == 0 {
		t.Errorf("no %s retry in the history: the 10 s propagation delay was not seen", rotation.KeyNotYetValid)
	}
	t.Logf("virtual clock: a rotation spanning %v of the AWS clock (%d events, %d %s retries) took %v of real time",
		last.Sub(first), len(hist.Events), retried, rotation.KeyNotYetValid, real.Round(time.Millisecond))
}

func TestRemovingAnActionFromARoleFailsTheRotationWithAccessDenied(t *testing.T) {
	ctx := context.Background()
	doc, err := env.Engine.FunctionPolicy("createkey")
	if err != nil {
		t.Fatal(err)
	}
	actions := slices.DeleteFunc(doc.AllowedActions(), func(a string) bool { return a == "iam:CreateAccessKey" })
	if err := env.SetRoleActions(ctx, "createkey", actions); err != nil {
		t.Fatal(err)
	}
	_, out := rotateUser(t, nil)
	if err := env.ResetRolePolicy(ctx, "createkey"); err != nil {
		t.Fatal(err)
	}
	if out.Status != sfntypes.ExecutionStatusFailed || aws.ToString(out.Error) != rotation.AccessDenied ||
		!strings.Contains(aws.ToString(out.Cause), "CreateAccessKey") {
		t.Errorf("without iam:CreateAccessKey: %s %q %q; want FAILED AccessDenied naming CreateAccessKey", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	if _, out := rotateUser(t, nil); out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Errorf("with the policy reset: %s %s", aws.ToString(out.Error), aws.ToString(out.Cause))
	}
}
