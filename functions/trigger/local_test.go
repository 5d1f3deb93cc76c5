package main_test

// These tests run the built trigger bootstrap (build/host/trigger/bootstrap) on the local
// engine (internal/localenv: moto with IAM auth, the real step functions, the Step Functions
// API running statemachine/rotate.asl.json) and send it exactly what Terraform's
// aws_lambda_invocation sends with lifecycle_scope = "CRUD" and terraform_key = "tf"
// (infra/modules/managed-key/main.tf). They need `make build` first.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/internal/harness/testenv"
	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/lambdahost"
)

var (
	engine  *localenv.Env
	userSeq atomic.Int64
)

// TestMain starts the one local engine of this package (the wall clock: IAM propagation and
// the trigger's polling run in real time), with one member account: members_test.go.
func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, &engine, localenv.Options{Accounts: 1}))
}

// tfRotation is the module's local.rotation: every field is always sent.
type tfRotation struct {
	UserName        string `json:"userName"`
	ParameterName   string `json:"parameterName"`
	GraceSeconds    int    `json:"graceSeconds"`
	InactiveSeconds int    `json:"inactiveSeconds"`
	Format          string `json:"format"`
}

// tfInput is the module's `input = jsonencode({rotation = …, rotationToken = …})`.
type tfInput struct {
	Rotation      tfRotation `json:"rotation"`
	RotationToken string     `json:"rotationToken"`
}

// tfEvent is what the AWS provider sends for lifecycle_scope CRUD: the input plus
// "tf": {"action", "prev_input"}; prev_input is null on create, the previous input on update,
// and the current input on delete.
func tfEvent(t *testing.T, action string, in tfInput, prev *tfInput) []byte {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	ev["tf"] = map[string]any{"action": action, "prev_input": prev}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newUser(t *testing.T, env *localenv.Env, u localenv.ManagedUser) string {
	t.Helper()
	u.Name = fmt.Sprintf("tf-trigger-%d", userSeq.Add(1))
	if u.Parameter == "-" {
		u.Parameter = env.ParameterPrefix + u.Name
	}
	if _, err := env.CreateManagedUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u.Name
}

// invocations sends events to the trigger and keeps every answer, for the secret scan.
type invocations struct {
	// viaAPI sends them as Terraform does, through the Lambda Invoke API (the AWS CLI as an
	// independent client); otherwise straight to the Lambda host.
	viaAPI  bool
	mu      sync.Mutex
	answers []*lambdahost.Result
}

// clients are the two ways the tests reach the trigger.
var clients = []struct {
	name   string
	viaAPI bool
}{
	{"Lambda host", false},
	{"Lambda Invoke API", true},
}

// newInvocations skips the test when the client it needs is missing.
func newInvocations(t *testing.T, viaAPI bool) *invocations {
	t.Helper()
	if _, err := exec.LookPath("aws"); viaAPI && err != nil {
		t.Skip("the AWS CLI (aws) is not installed")
	}
	return &invocations{viaAPI: viaAPI}
}

func (iv *invocations) invoke(t *testing.T, env *localenv.Env, payload []byte) *lambdahost.Result {
	t.Helper()
	var res *lambdahost.Result
	if iv.viaAPI {
		res = invokeAPI(t, env, payload)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var err error
		if res, err = env.Lambda.Invoke(ctx, env.FunctionARNs["trigger"], payload); err != nil {
			t.Fatal(err)
		}
	}
	iv.mu.Lock()
	iv.answers = append(iv.answers, res)
	iv.mu.Unlock()
	return res
}

// invokeAPI runs `aws lambda invoke` (RequestResponse, log tail) against the local endpoint, as
// the provider's Invoke call does, and reads its answer into a Result. Nothing it prints is
// logged: it could hold a secret.
func invokeAPI(t *testing.T, env *localenv.Env, payload []byte) *lambdahost.Result {
	t.Helper()
	dir := t.TempDir()
	event, answer := filepath.Join(dir, "event.json"), filepath.Join(dir, "answer.json")
	if err := os.WriteFile(event, payload, 0o600); err != nil {
		t.Fatal(err)
	}
	stdout := testutil.AWSCLI(t, env.Environ(), nil, "lambda", "invoke", "--function-name", env.Engine.FunctionName("trigger"),
		"--invocation-type", "RequestResponse", "--log-type", "Tail", "--payload", "fileb://"+event,
		"--cli-read-timeout", "900", answer)
	var meta struct {
		StatusCode    int
		FunctionError string
		LogResult     string
	}
	if err := json.Unmarshal(stdout, &meta); err != nil || meta.StatusCode != 200 {
		t.Fatalf("aws lambda invoke answered status %d (%v)", meta.StatusCode, err)
	}
	body, err := os.ReadFile(answer)
	if err != nil {
		t.Fatal(err)
	}
	res := &lambdahost.Result{Payload: body, FunctionError: meta.FunctionError}
	if meta.LogResult != "" {
		tail, err := base64.StdEncoding.DecodeString(meta.LogResult)
		if err != nil {
			t.Fatalf("LogResult is not base64: %v", err)
		}
		res.Logs = strings.Split(string(tail), "\n")
	}
	if res.FunctionError != "" {
		var doc struct{ ErrorType, ErrorMessage string }
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("function error document %s: %v", body, err)
		}
		res.ErrorType, res.ErrorMessage = doc.ErrorType, doc.ErrorMessage
	}
	return res
}

// applied decodes a successful answer the way Terraform stores it (result = the payload).
func applied(t *testing.T, res *lambdahost.Result) map[string]string {
	t.Helper()
	if res.FunctionError != "" {
		t.Fatalf("trigger failed: %s %s: %s", res.FunctionError, res.ErrorType, res.ErrorMessage)
	}
	var out map[string]string
	if err := json.Unmarshal(res.Payload, &out); err != nil {
		t.Fatalf("result %s: %v", res.Payload, err)
	}
	return out
}

// stored reads the parameter as a consumer would (admin, with decryption); the secret stays in
// memory, for the scan only.
func stored(t *testing.T, env *localenv.Env, name string) (id, secret string) {
	t.Helper()
	out, err := ssm.NewFromConfig(env.AdminConfig()).GetParameter(context.Background(), &ssm.GetParameterInput{
		Name: aws.String(name), WithDecryption: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("read parameter %s: %v", name, err)
	}
	var v struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(aws.ToString(out.Parameter.Value)), &v); err != nil || v.AccessKeyId == "" || v.SecretAccessKey == "" {
		t.Fatalf("parameter %s does not hold {AccessKeyId, SecretAccessKey}", name)
	}
	return v.AccessKeyId, v.SecretAccessKey
}

type key struct {
	ID     string
	Status iamtypes.StatusType
}

func keysOf(t *testing.T, env *localenv.Env, user string) []key {
	t.Helper()
	out, err := iam.NewFromConfig(env.AdminConfig()).ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatalf("list keys of %s: %v", user, err)
	}
	var keys []key
	for _, k := range out.AccessKeyMetadata {
		keys = append(keys, key{aws.ToString(k.AccessKeyId), k.Status})
	}
	slices.SortFunc(keys, func(a, b key) int { return strings.Compare(a.ID, b.ID) })
	return keys
}

// assertRefusedChangingNothing invokes the trigger with event and checks that it fails with an
// error naming every one of want, leaving user's keys and param (and its lock) as they were.
func assertRefusedChangingNothing(t *testing.T, env *localenv.Env, iv *invocations, user, param string, event []byte, want ...string) {
	t.Helper()
	keysBefore, paramsBefore := keysOf(t, env, user), parameters(t, env, param)
	res := iv.invoke(t, env, event)
	if res.FunctionError == "" {
		t.Fatalf("trigger answered %s, want a refusal naming %q", res.Payload, want)
	}
	for _, w := range want {
		if !strings.Contains(res.ErrorMessage, w) {
			t.Errorf("error %s %q does not name %q", res.ErrorType, res.ErrorMessage, w)
		}
	}
	if got := keysOf(t, env, user); !slices.Equal(got, keysBefore) {
		t.Errorf("keys changed: %v → %v", keysBefore, got)
	}
	if got := parameters(t, env, param); !maps.Equal(got, paramsBefore) {
		t.Errorf("parameters changed: %v → %v", paramsBefore, got)
	}
}

// assertReleasedUserKept checks what destroy (or an update away from a user) leaves: no access
// keys on user, neither param nor its lock, and the IAM user itself, which Terraform deletes.
func assertReleasedUserKept(ctx context.Context, t *testing.T, env *localenv.Env, user, param string) {
	t.Helper()
	if keys := keysOf(t, env, user); len(keys) != 0 {
		t.Errorf("%s still has keys %v", user, keys)
	}
	for name, v := range parameters(t, env, param) {
		if v != 0 {
			t.Errorf("parameter %s is still there (version %d)", name, v)
		}
	}
	if ok, err := env.UserExists(ctx, user); err != nil || !ok {
		t.Errorf("user %s exists = %v (%v), want it kept: Terraform deletes it itself", user, ok, err)
	}
}

// parameters maps every parameter under the user's names to its version (0: absent).
func parameters(t *testing.T, env *localenv.Env, names ...string) map[string]int64 {
	t.Helper()
	client := ssm.NewFromConfig(env.AdminConfig())
	out := map[string]int64{}
	for _, n := range names {
		for _, name := range []string{n, n + ".lock"} {
			p, err := client.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(name)})
			var gone *ssmtypes.ParameterNotFound
			switch {
			case errors.As(err, &gone):
				out[name] = 0
			case err != nil:
				t.Fatalf("read parameter %s: %v", name, err)
			default:
				out[name] = p.Parameter.Version
			}
		}
	}
	return out
}

func describe(t *testing.T, env *localenv.Env, arn string) *sfn.DescribeExecutionOutput {
	t.Helper()
	out, err := env.SFN().DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("describe %s: %v", arn, err)
	}
	return out
}

// awaitEnd waits for an execution (zero waits: a few seconds at most) to end.
func awaitEnd(t *testing.T, env *localenv.Env, arn string) *sfn.DescribeExecutionOutput {
	t.Helper()
	var out *sfn.DescribeExecutionOutput
	defer func() { // runs also when WaitFor fails the test
		if out == nil || out.Status == sfntypes.ExecutionStatusRunning {
			t.Logf("execution %s is still in state %s", arn, lastState(t, env, arn))
		}
	}()
	testutil.WaitFor(t, time.Minute, "execution "+arn+" to end", func() bool {
		out = describe(t, env, arn)
		return out.Status != sfntypes.ExecutionStatusRunning
	})
	return out
}

// lastState names the state the execution entered last.
func lastState(t *testing.T, env *localenv.Env, arn string) string {
	t.Helper()
	out, err := env.SFN().GetExecutionHistory(context.Background(), &sfn.GetExecutionHistoryInput{
		ExecutionArn: aws.String(arn), ReverseOrder: true, IncludeExecutionData: aws.Bool(false),
	})
	if err != nil {
		return err.Error()
	}
	for _, e := range out.Events {
		if x := e.StateEnteredEventDetails; x != nil {
			return aws.ToString(x.Name)
		}
	}
	return "(none)"
}

// sealedSecrets collects every sealedSecret a step wrote into the execution's history.
func sealedSecrets(t *testing.T, env *localenv.Env, arn string) []string {
	t.Helper()
	pages := sfn.NewGetExecutionHistoryPaginator(env.SFN(), &sfn.GetExecutionHistoryInput{
		ExecutionArn: aws.String(arn), IncludeExecutionData: aws.Bool(true),
	})
	var sealed []string
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			if x := e.StateExitedEventDetails; x != nil {
				var doc rotation.Rotation
				if json.Unmarshal([]byte(aws.ToString(x.Output)), &doc) == nil && doc.SealedSecret != "" && !slices.Contains(sealed, doc.SealedSecret) {
					sealed = append(sealed, doc.SealedSecret)
				}
			}
		}
	}
	return sealed
}

// secretScan fails the test if any answer of the trigger, or any line the trigger (or any
// function, for the plain secret) wrote, holds one of the secrets or sealed secrets.
func secretScan(t *testing.T, env *localenv.Env, iv *invocations, secrets, sealed []string) {
	t.Helper()
	if len(secrets) == 0 || len(sealed) == 0 {
		t.Fatalf("nothing to scan for: %d secrets, %d sealed secrets", len(secrets), len(sealed))
	}
	trigger := env.Engine.FunctionName("trigger")
	check := func(where, text string, needles []string, what string) {
		for _, n := range needles {
			if strings.Contains(text, n) {
				t.Errorf("%s holds a %s", where, what) // never the text itself: it holds the secret
			}
		}
	}
	iv.mu.Lock()
	defer iv.mu.Unlock()
	for i, res := range iv.answers {
		where := fmt.Sprintf("trigger answer %d", i+1)
		if len(res.Logs) == 0 {
			t.Errorf("%s came without the invocation's log tail: the scan proves nothing", where)
		}
		for _, text := range append([]string{string(res.Payload), res.ErrorMessage}, res.Logs...) {
			check(where, text, secrets, "secret access key")
			check(where, text, sealed, "sealed secret")
		}
	}
	lines := 0
	for _, l := range env.Logs() {
		check(l.Function+" log line", l.Text, secrets, "secret access key")
		if l.Function == trigger {
			lines++
			check("trigger log line", l.Text, sealed, "sealed secret")
		}
	}
	if lines == 0 {
		t.Error("no trigger log line was captured: the scan proves nothing")
	}
}

// The whole Terraform lifecycle of one managed-key module: apply (create), apply with a new
// rotation_token (update), rename the parameter (update), switch to another user (update),
// destroy (delete).
func TestTerraformLifecycleRunsOnTheLocalEngine(t *testing.T) {
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) { terraformLifecycle(t, newInvocations(t, c.viaAPI)) })
	}
}

func terraformLifecycle(t *testing.T, iv *invocations) {
	env := engine
	ctx := context.Background()
	user := newUser(t, env, localenv.ManagedUser{}) // create_user = true: a new user, no key
	in := tfInput{Rotation: tfRotation{
		UserName: user, ParameterName: env.ParameterPrefix + user, GraceSeconds: 0, InactiveSeconds: 0, Format: "json",
	}}
	var secrets, sealed []string

	// step checks one successful create/update answer against what moto and Step Functions hold.
	step := func(t *testing.T, res *lambdahost.Result, parameter string) map[string]string {
		t.Helper()
		out := applied(t, res)
		wantKeys := []string{"access_key_id", "execution_arn", "parameter_arn", "parameter_name"}
		if got := slices.Sorted(maps.Keys(out)); !slices.Equal(got, wantKeys) {
			t.Errorf("result has %v, want exactly %v", got, wantKeys)
		}
		// Returned once verified: the execution is past VerifyKey, so running its waits or done.
		exec := describe(t, env, out["execution_arn"])
		if exec.Status != sfntypes.ExecutionStatusRunning && exec.Status != sfntypes.ExecutionStatusSucceeded {
			t.Fatalf("execution %s is %s (%s: %s) when the trigger answered", out["execution_arn"], exec.Status, aws.ToString(exec.Error), aws.ToString(exec.Cause))
		}
		if aws.ToString(exec.StateMachineArn) != env.StateMachineARN {
			t.Errorf("execution of %s, want %s", aws.ToString(exec.StateMachineArn), env.StateMachineARN)
		}
		id, secret := stored(t, env, parameter)
		if out["access_key_id"] != id {
			t.Errorf("access_key_id %s, but the parameter holds %s", out["access_key_id"], id)
		}
		if out["parameter_name"] != parameter || out["parameter_arn"] != "arn:aws:ssm:"+localenv.Region+":"+localenv.AccountID+":parameter"+parameter {
			t.Errorf("parameter %s %s, want %s", out["parameter_name"], out["parameter_arn"], parameter)
		}
		if !slices.Contains(keysOf(t, env, user), key{id, iamtypes.StatusTypeActive}) {
			t.Errorf("%s is not an active key of %s", id, user)
		}
		if end := awaitEnd(t, env, out["execution_arn"]); end.Status != sfntypes.ExecutionStatusSucceeded {
			t.Fatalf("execution ended %s: %s: %s", end.Status, aws.ToString(end.Error), aws.ToString(end.Cause))
		}
		// inactiveSeconds 0: the old keys are gone once the execution has ended.
		if got := keysOf(t, env, user); !slices.Equal(got, []key{{id, iamtypes.StatusTypeActive}}) {
			t.Errorf("after the rotation %s has keys %v, want only %s", user, got, id)
		}
		secrets = append(secrets, secret)
		sealed = append(sealed, sealedSecrets(t, env, out["execution_arn"])...)
		return out
	}

	var first map[string]string
	t.Run("create returns the verified key of the parameter", func(t *testing.T) {
		first = step(t, iv.invoke(t, env, tfEvent(t, "create", in, nil)), in.Rotation.ParameterName)
	})
	if first == nil {
		t.FailNow()
	}

	var second map[string]string
	t.Run("a second create with the same input rotates again", func(t *testing.T) {
		// Terraform sends create again when the resource is replaced or its state was lost.
		second = step(t, iv.invoke(t, env, tfEvent(t, "create", in, nil)), in.Rotation.ParameterName)
		if second["access_key_id"] == first["access_key_id"] || second["execution_arn"] == first["execution_arn"] {
			t.Errorf("second create answered %v, the same as the first", second)
		}
	})

	t.Run("update with a new rotation_token rotates again", func(t *testing.T) {
		next := in
		next.RotationToken = "2"
		out := step(t, iv.invoke(t, env, tfEvent(t, "update", next, &in)), in.Rotation.ParameterName)
		if out["access_key_id"] == second["access_key_id"] {
			t.Errorf("update kept key %s", out["access_key_id"])
		}
		in = next
	})

	t.Run("update to a new parameter name moves the key and deletes the old parameter", func(t *testing.T) {
		next := in
		next.Rotation.ParameterName = env.ParameterPrefix + user + "/v2"
		old := in.Rotation.ParameterName
		// The managed-key module tags the user with its parameter before the trigger runs
		// (infra/modules/managed-key): a move needs the tag to name the target.
		if _, err := iam.NewFromConfig(env.AdminConfig()).TagUser(ctx, &iam.TagUserInput{UserName: aws.String(user), Tags: []iamtypes.Tag{
			{Key: aws.String(rotation.ParameterTagKey), Value: aws.String(next.Rotation.ParameterName)},
		}}); err != nil {
			t.Fatal(err)
		}
		step(t, iv.invoke(t, env, tfEvent(t, "update", next, &in)), next.Rotation.ParameterName)
		got := parameters(t, env, old, next.Rotation.ParameterName)
		if got[old] != 0 || got[old+".lock"] != 0 || got[next.Rotation.ParameterName] == 0 || got[next.Rotation.ParameterName+".lock"] != 0 {
			t.Errorf("parameters after the rename (version, 0: absent): %v", got)
		}
		in = next
	})

	t.Run("update to another user deletes the previous user's keys and parameter", func(t *testing.T) {
		prevUser, prevParam := user, in.Rotation.ParameterName
		user = newUser(t, env, localenv.ManagedUser{})
		next := in
		next.Rotation.UserName, next.Rotation.ParameterName = user, env.ParameterPrefix+user
		step(t, iv.invoke(t, env, tfEvent(t, "update", next, &in)), next.Rotation.ParameterName)
		assertReleasedUserKept(ctx, t, env, prevUser, prevParam)
		in = next
	})

	t.Run("delete removes the managed keys and the parameter, not the user", func(t *testing.T) {
		res := iv.invoke(t, env, tfEvent(t, "delete", in, &in))
		out := applied(t, res)
		if out["parameter_name"] != in.Rotation.ParameterName || out["access_key_id"] != "" {
			t.Errorf("delete answered %v", out)
		}
		assertReleasedUserKept(ctx, t, env, user, in.Rotation.ParameterName)
		// Destroy is repeatable (a retried apply after a partial failure).
		if again := iv.invoke(t, env, tfEvent(t, "delete", in, &in)); again.FunctionError != "" {
			t.Errorf("repeated delete failed: %s %s", again.ErrorType, again.ErrorMessage)
		}
	})

	t.Run("neither Terraform state nor the trigger's logs hold a secret", func(t *testing.T) {
		secretScan(t, env, iv, secrets, sealed)
	})
}

// A user without keyrotor:managed=true is refused with words that say what to do, and nothing
// of it changes, whatever Terraform asks — destroy included: its keys and parameter survive.
func TestUnmanagedUserIsRefusedAndLeftAsItWas(t *testing.T) {
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) { unmanagedUser(t, newInvocations(t, c.viaAPI)) })
	}
}

func unmanagedUser(t *testing.T, iv *invocations) {
	env := engine
	user := newUser(t, env, localenv.ManagedUser{Unmanaged: true, Keys: 2, Parameter: "-"})
	param := env.ParameterPrefix + user
	in := tfInput{Rotation: tfRotation{UserName: user, ParameterName: param, Format: "json"}}
	next := in
	next.RotationToken = "2"
	for _, tc := range []struct {
		name  string
		event []byte
	}{
		{"create", tfEvent(t, "create", in, nil)},
		{"update", tfEvent(t, "update", next, &in)},
		// The role's tag condition would refuse it on AWS; moto ignores conditions, so this
		// proves the trigger's own check.
		{"delete", tfEvent(t, "delete", in, &in)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertRefusedChangingNothing(t, env, iv, user, param, tc.event, rotation.UserNotManaged, "keyrotor:managed=true", user, "tag")
		})
	}
	if len(iv.answers) > 0 {
		t.Logf("refusal: %s", iv.answers[0].ErrorMessage)
	}
}

// With the module's long waits the execution is still in its grace period long after apply:
// the trigger answers as soon as the key is verified, and a second rotation meanwhile is
// refused with the holder named, changing nothing.
func TestRotationDuringTheGracePeriodIsRefused(t *testing.T) {
	t.Parallel() // its own user: it may overlap the other local tests
	env := engine
	ctx := context.Background()
	// create_user = false: an adopted user whose key a previous rotation stored.
	user := newUser(t, env, localenv.ManagedUser{Keys: 1, Parameter: "-"})
	param := env.ParameterPrefix + user
	oldID, _ := stored(t, env, param)
	in := tfInput{Rotation: tfRotation{UserName: user, ParameterName: param, GraceSeconds: 3600, InactiveSeconds: 86400, Format: "json"}}
	iv := &invocations{}

	out := applied(t, iv.invoke(t, env, tfEvent(t, "create", in, nil)))
	holder := out["execution_arn"]
	defer env.SFN().StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(holder)})
	if st := describe(t, env, holder).Status; st != sfntypes.ExecutionStatusRunning {
		t.Fatalf("execution is %s when the trigger answered, want RUNNING (in its grace period)", st)
	}
	newID, secret := stored(t, env, param)
	if out["access_key_id"] != newID || newID == oldID {
		t.Fatalf("trigger answered %s; the parameter holds %s (before: %s)", out["access_key_id"], newID, oldID)
	}
	wantKeys := []key{{oldID, iamtypes.StatusTypeActive}, {newID, iamtypes.StatusTypeActive}}
	slices.SortFunc(wantKeys, func(a, b key) int { return strings.Compare(a.ID, b.ID) })
	if got := keysOf(t, env, user); !slices.Equal(got, wantKeys) {
		t.Fatalf("in the grace period %s has %v, want both keys active %v", user, got, wantKeys)
	}

	next := in
	next.RotationToken = "2"
	for _, tc := range []struct {
		name  string
		event []byte
	}{
		{"update with a new rotation_token", tfEvent(t, "update", next, &in)},
		{"create again", tfEvent(t, "create", in, nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertRefusedChangingNothing(t, env, iv, user, param, tc.event, rotation.RotationInProgress, holder, "wait for it to finish")
			if st := describe(t, env, holder).Status; st != sfntypes.ExecutionStatusRunning {
				t.Errorf("the holding rotation is %s, want it left RUNNING", st)
			}
		})
	}
	secretScan(t, env, iv, []string{secret}, sealedSecrets(t, env, holder))
}

// terraform destroy soon after apply meets the rotation in its grace period (with the module's
// defaults, for about 25 hours): destroy stops that rotation first, so it ends ABORTED (which
// the failure alert and alarms ignore) instead of waking to a deleted lock and failing with a
// "retire by hand" alarm; then the keys, the parameter and the lock go, and nothing comes back.
func TestDestroyDuringTheGracePeriodStopsTheRotationAndLeavesNothingBehind(t *testing.T) {
	t.Parallel() // its own user: it may overlap the other local tests
	env := engine
	ctx := context.Background()
	user := newUser(t, env, localenv.ManagedUser{Keys: 1, Parameter: "-"})
	param := env.ParameterPrefix + user
	// The module's defaults: grace_seconds 3600, inactive_seconds 86400.
	in := tfInput{Rotation: tfRotation{UserName: user, ParameterName: param, GraceSeconds: 3600, InactiveSeconds: 86400, Format: "json"}}
	iv := &invocations{}
	out := applied(t, iv.invoke(t, env, tfEvent(t, "create", in, nil)))
	exec := out["execution_arn"]
	defer env.SFN().StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(exec)})
	_, secret := stored(t, env, param)
	if st := describe(t, env, exec).Status; st != sfntypes.ExecutionStatusRunning {
		t.Fatalf("execution is %s before destroy, want RUNNING in its grace period", st)
	}
	if res := iv.invoke(t, env, tfEvent(t, "delete", in, &in)); res.FunctionError != "" {
		t.Fatalf("destroy failed: %s %s", res.ErrorType, res.ErrorMessage)
	}
	// Destroy answers once the rotation has ended: no waiting here.
	end := describe(t, env, exec)
	if end.Status != sfntypes.ExecutionStatusAborted {
		t.Fatalf("the rotation destroy overtook is %s (%s: %s), want ABORTED", end.Status, aws.ToString(end.Error), aws.ToString(end.Cause))
	}
	for _, want := range []string{"destroy", param} {
		if !strings.Contains(aws.ToString(end.Error)+" "+aws.ToString(end.Cause), want) {
			t.Errorf("abort %s: %s does not name %q", aws.ToString(end.Error), aws.ToString(end.Cause), want)
		}
	}
	failed := sfn.NewListExecutionsPaginator(env.SFN(), &sfn.ListExecutionsInput{
		StateMachineArn: aws.String(env.StateMachineARN), StatusFilter: sfntypes.ExecutionStatusFailed,
	})
	for failed.HasMorePages() {
		page, err := failed.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Executions {
			if strings.HasPrefix(aws.ToString(e.Name), "tf-"+user+"-") {
				t.Errorf("execution %s of %s FAILED: the failure alarm fires", aws.ToString(e.ExecutionArn), user)
			}
		}
	}
	assertReleasedUserKept(ctx, t, env, user, param)
	secretScan(t, env, iv, []string{secret}, sealedSecrets(t, env, exec))
}

// format = "raw" stores the secret alone; the answer still names the key the parameter holds
// (its description, "keyrotor:<id>") and still carries no secret.
func TestRawFormatCreateAnswersWithTheStoredKey(t *testing.T) {
	t.Parallel() // its own user: it may overlap the other local tests
	env := engine
	ctx := context.Background()
	user := newUser(t, env, localenv.ManagedUser{})
	param := env.ParameterPrefix + user
	in := tfInput{Rotation: tfRotation{UserName: user, ParameterName: param, Format: rotation.FormatRaw}}
	iv := &invocations{}
	out := applied(t, iv.invoke(t, env, tfEvent(t, "create", in, nil)))
	client := ssm.NewFromConfig(env.AdminConfig())
	desc, err := client.DescribeParameters(ctx, &ssm.DescribeParametersInput{
		ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Name"), Values: []string{param}}},
	})
	if err != nil || len(desc.Parameters) != 1 {
		t.Fatalf("describe %s: %v %v", param, desc, err)
	}
	if got := aws.ToString(desc.Parameters[0].Description); got != "keyrotor:"+out["access_key_id"] {
		t.Errorf("parameter description %q, trigger answered %s", got, out["access_key_id"])
	}
	value, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	secret := aws.ToString(value.Parameter.Value)
	if len(secret) < 20 || strings.ContainsAny(secret, "{\"") {
		t.Fatalf("parameter %s does not hold a raw secret (%d characters)", param, len(secret))
	}
	if end := awaitEnd(t, env, out["execution_arn"]); end.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("execution ended %s: %s", end.Status, aws.ToString(end.Error))
	}
	if got := keysOf(t, env, user); !slices.Equal(got, []key{{out["access_key_id"], iamtypes.StatusTypeActive}}) {
		t.Errorf("%s has keys %v, want only %s", user, got, out["access_key_id"])
	}
	secretScan(t, env, iv, []string{secret}, sealedSecrets(t, env, out["execution_arn"]))
}
