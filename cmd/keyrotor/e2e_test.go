package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyrotor/keyrotor/internal/harness/testenv"
	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

// env is the local engine the CLI tests drive, one per test package.
var env *localenv.Env

func TestMain(m *testing.M) {
	// The transcript scripts run this binary as keyrotor (transcript_test.go).
	testscript.Main(engineM{m}, map[string]func(){"keyrotor": keyrotorMain})
}

// engineM runs the tests with the local engine up: one member account (members_test.go).
type engineM struct{ m *testing.M }

func (e engineM) Run() int {
	return testenv.Run(e.m, &env, localenv.Options{Accounts: 1})
}

// useLocal points the in-process CLI at the local engine as `local up`'s export line does,
// and keeps the user's own AWS configuration out.
func useLocal(t *testing.T) { useEngine(t, env) }

// useEngine points the in-process CLI at e, keeping the user's own AWS configuration out.
func useEngine(t *testing.T, e *localenv.Env) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	os.Unsetenv("AWS_PROFILE")
	t.Setenv("AWS_SESSION_TOKEN", "")
	os.Unsetenv("AWS_SESSION_TOKEN")
	for _, kv := range e.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// cli runs keyrotor in-process and returns its exit code and outputs.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// awsCLI runs the AWS CLI against the local engine with the given credentials (admin when
// creds is nil) and returns its stdout. Its output is never logged: it may hold a secret.
func awsCLI(t *testing.T, creds *aws.Credentials, args ...string) string {
	t.Helper()
	return string(testutil.AWSCLI(t, env.Environ(), creds, args...))
}

func TestRotatedKeyWorksForTheAWSCLIAndItsSecretAppearsNowhere(t *testing.T) {
	useLocal(t)
	ctx := context.Background()
	user, param := "e2e-signer", "/keyrotor/e2e-signer"
	old, err := env.CreateManagedUser(ctx, localenv.ManagedUser{Name: user, Keys: 1, Parameter: param})
	if err != nil {
		t.Fatal(err)
	}
	var outputs []string // everything the CLI printed, for the secret scan
	code, stdout, stderr := cli(t, "rotate", "--user", user, "--grace", "0", "--inactive", "0s", "--wait")
	outputs = append(outputs, stdout, stderr)
	if code != exitOK || !strings.Contains(stdout, "new access key AKIA") {
		t.Fatalf("rotate --wait exited %d:\n%s\n%s", code, stdout, stderr)
	}
	for _, state := range []string{"Begin", "CreateKey", "StoreParameter", "VerifyKey", "DeactivateOldKeys", "DeleteOldKeys", "Rotated"} {
		if !strings.Contains(stdout, "\n"+state+" ") {
			t.Errorf("rotate --wait printed no line for %s:\n%s", state, stdout)
		}
	}

	// The consumer: read the parameter (admin, as the consumer's role would), then authenticate.
	var p struct{ Parameter struct{ Value string } }
	if err := json.Unmarshal([]byte(awsCLI(t, nil, "ssm", "get-parameter", "--name", param, "--with-decryption")), &p); err != nil {
		t.Fatal("ssm get-parameter output is not JSON")
	}
	var key struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(p.Parameter.Value), &key); err != nil || key.SecretAccessKey == "" {
		t.Fatal("the parameter does not hold a JSON access key")
	}
	var who struct{ Arn string }
	if err := json.Unmarshal([]byte(awsCLI(t, &aws.Credentials{AccessKeyID: key.AccessKeyId, SecretAccessKey: key.SecretAccessKey},
		"sts", "get-caller-identity", "--endpoint-url", env.AWSEndpoint)), &who); err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:iam::" + localenv.AccountID + ":user/" + user; who.Arn != want {
		t.Errorf("the key in %s authenticates as %q, want %q", param, who.Arn, want)
	}
	if !strings.Contains(stdout, key.AccessKeyId) {
		t.Errorf("rotate --wait did not print the new AccessKeyId %s", key.AccessKeyId)
	}

	// The old key is gone, the new one is the only one.
	keys := awsCLI(t, nil, "iam", "list-access-keys", "--user-name", user)
	if strings.Contains(keys, old[0]) || !strings.Contains(keys, key.AccessKeyId) {
		t.Errorf("after the rotation the keys of %s are %s; want %s gone and %s present", user, keys, old[0], key.AccessKeyId)
	}

	code, stdout, stderr = cli(t, "status", "--user", user)
	outputs = append(outputs, stdout, stderr)
	if code != exitOK || !strings.Contains(stdout, key.AccessKeyId+"  Active") || !strings.Contains(stdout, "← in parameter") ||
		!strings.Contains(stdout, "version 2") || !strings.Contains(stdout, "none running") {
		t.Errorf("status exited %d:\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = cli(t, "history")
	outputs = append(outputs, stdout, stderr)
	if code != exitOK || !strings.Contains(stdout, "SUCCEEDED") || !strings.Contains(stdout, "VerifyKey") || !strings.Contains(stdout, key.AccessKeyId) {
		t.Errorf("history of the latest execution exited %d:\n%s\n%s", code, stdout, stderr)
	}
	arn := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(stdout, "\n", 2)[0], "execution"))
	history := awsCLI(t, nil, "stepfunctions", "get-execution-history", "--execution-arn", arn)
	if !strings.Contains(history, "ExecutionSucceeded") {
		t.Fatalf("aws stepfunctions get-execution-history of %s has no ExecutionSucceeded event", arn)
	}

	// --json: the same reports as one JSON object each.
	code, stdout, stderr = cli(t, "status", "--user", user, "--json")
	outputs = append(outputs, stdout, stderr)
	var st userStatus
	if err := json.Unmarshal([]byte(stdout), &st); code != exitOK || err != nil {
		t.Errorf("status --json exited %d (%v):\n%s\n%s", code, err, stdout, stderr)
	} else if !st.Managed || st.HeldKey != key.AccessKeyId || st.ParameterVersion != 2 || st.RotationRunning ||
		len(st.Keys) != 1 || st.Keys[0].ID != key.AccessKeyId || !st.Keys[0].InParameter || st.Keys[0].Status != "Active" {
		t.Errorf("status --json: %+v", st)
	}
	code, stdout, stderr = cli(t, "history", arn, "--json")
	outputs = append(outputs, stdout, stderr)
	var h historyReport
	if err := json.Unmarshal([]byte(stdout), &h); code != exitOK || err != nil {
		t.Errorf("history --json exited %d (%v):\n%s\n%s", code, err, stdout, stderr)
	} else if h.ExecutionARN != arn || h.Status != "SUCCEEDED" || h.NewAccessKeyID != key.AccessKeyId || h.Parameter != param ||
		!slices.ContainsFunc(h.States, func(r *stateRun) bool { return r.Name == "VerifyKey" && r.Type == "Task" }) ||
		h.Transitions < len(h.States) || h.LambdaInvocations < 5 || h.DurationSeconds <= 0 {
		t.Errorf("history --json: %+v", h)
	}

	var logs strings.Builder
	for _, l := range env.Logs() {
		logs.WriteString(l.Text + "\n")
	}
	if logs.Len() == 0 {
		t.Fatal("no Lambda log lines were captured")
	}
	calls, _ := json.Marshal(env.Proxy.Calls())
	for name, text := range map[string]string{
		"the execution history (aws stepfunctions get-execution-history)": history,
		"the captured Lambda logs":                                        logs.String(),
		"the CLI's output":                                                strings.Join(outputs, "\n"),
		"the proxy's record of AWS calls":                                 string(calls),
	} {
		if strings.Contains(text, key.SecretAccessKey) {
			t.Errorf("the new secret access key appears in %s", name)
		}
	}
}

func TestAWSCLIStartsAndDescribesExecutionsOnTheLocalServer(t *testing.T) {
	ctx := context.Background()
	user := "e2e-awscli"
	if _, err := env.CreateManagedUser(ctx, localenv.ManagedUser{Name: user, Keys: 1}); err != nil {
		t.Fatal(err)
	}
	var started struct{ ExecutionArn string }
	if err := json.Unmarshal([]byte(awsCLI(t, nil, "stepfunctions", "start-execution", "--state-machine-arn", env.StateMachineARN,
		"--input", `{"userName":"`+user+`","graceSeconds":0,"inactiveSeconds":0}`)), &started); err != nil || started.ExecutionArn == "" {
		t.Fatalf("start-execution: %v", err)
	}
	var d struct{ Status, Output string }
	testutil.WaitFor(t, time.Minute, "the execution to end", func() bool {
		if err := json.Unmarshal([]byte(awsCLI(t, nil, "stepfunctions", "describe-execution", "--execution-arn", started.ExecutionArn)), &d); err != nil {
			t.Fatal(err)
		}
		return d.Status != "RUNNING"
	})
	var doc rotation.Rotation
	if d.Status != "SUCCEEDED" || json.Unmarshal([]byte(d.Output), &doc) != nil || !strings.HasPrefix(doc.NewAccessKeyID, "AKIA") {
		t.Fatalf("describe-execution: status %s, output %s", d.Status, d.Output)
	}

	var invoke struct{ FunctionError string }
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.json"), filepath.Join(dir, "out.json")
	payload := `{"action":"begin","executionId":"arn:aws:states:us-east-1:123456789012:execution:keyrotor-rotate:cli","rotation":{"userName":"e2e-nobody"}}`
	if err := os.WriteFile(in, []byte(payload), 0o600); err != nil {
		t.Fatal(err)
	}
	// fileb:// sends the bytes as they are with AWS CLI v1 and v2 alike.
	if err := json.Unmarshal([]byte(awsCLI(t, nil, "lambda", "invoke", "--function-name", "keyrotor-createkey",
		"--payload", "fileb://"+in, out)), &invoke); err != nil {
		t.Fatal(err)
	}
	body, _ := os.ReadFile(out)
	if invoke.FunctionError != "Unhandled" || !strings.Contains(string(body), rotation.UserNotFound) {
		t.Errorf("aws lambda invoke of createkey begin for a missing user: %q %s", invoke.FunctionError, body)
	}
}

func TestFailedRotationPrintsTheCauseAndExitsNonZero(t *testing.T) {
	useLocal(t)
	user := "e2e-unmanaged"
	if _, err := env.CreateManagedUser(context.Background(), localenv.ManagedUser{Name: user, Keys: 1, Unmanaged: true}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := cli(t, "rotate", "--user", user, "--wait")
	if code != exitFailed || !strings.Contains(stderr, rotation.UserNotManaged) || !strings.Contains(stderr, "keyrotor:managed") {
		t.Errorf("rotate of an unmanaged user exited %d:\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "RotationRejected") {
		t.Errorf("the progress lines do not show the Fail state:\n%s", stdout)
	}
}

func TestBadCommandLinesAreRefusedBeforeAnythingStarts(t *testing.T) {
	useLocal(t)
	count := func() int {
		out, err := env.SFN().ListExecutions(context.Background(), &sfn.ListExecutionsInput{StateMachineArn: aws.String(env.StateMachineARN), MaxResults: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Executions)
	}
	before := count()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rotate"}, "--user is required"},
		{[]string{"rotate", "--user", "bad name!"}, "not an IAM user name"},
		{[]string{"rotate", "--user", strings.Repeat("u", 65)}, "not an IAM user name"},
		{[]string{"rotate", "--user", "u", "--grace", "-5"}, "between 0 and 604800"},
		{[]string{"rotate", "--user", "u", "--grace", "8d"}, "between 0 and 604800"},
		{[]string{"rotate", "--user", "u", "--inactive", "1.5s"}, "whole seconds"},
		{[]string{"rotate", "--user", "u", "--inactive", "soon"}, "want seconds"},
		{[]string{"rotate", "--user", "u", "--format", "yaml"}, "want json"},
		{[]string{"rotate", "--user", "u", "--parameter", "keyrotor/u"}, "absolute SSM parameter name"},
		{[]string{"rotate", "--user", "u", "--parameter", "/keyrotor/../etc"}, "no '..'"},
		{[]string{"rotate", "--user", "u", "--bogus"}, "rotate: unknown flag --bogus"},
		{[]string{"rotate", "--usr", "u"}, "unknown flag --usr; did you mean --user?"},
		{[]string{"rotate", "--user", "u", "--max-concurrency", "3"}, "--max-concurrency only with --all"},
		{[]string{"rotate", "--user", "u", "--state-machine", "notanarn"}, "is not a state machine ARN"},
		{[]string{"rotate", "--all", "--organizational-unit", "bogus"}, "want an AWS Organizations OU id"},
		{[]string{"status"}, "the IAM user whose keys to show"},
		{[]string{"audit", "--parameter-prefix", "keyrotor"}, "--parameter-prefix \"keyrotor\""},
		{[]string{"history", "notanarn"}, "is not an execution ARN"},
		{[]string{"watch"}, "accepts 1 arg"},
		{[]string{"stop"}, "the IAM user whose running rotation to stop"},
		{[]string{"local", "up", "--user-account", "111111111111"}, "--user-account needs --user"},
		{[]string{"rotate", "--user", "u", "--move"}, "--move needs --parameter"},
		{[]string{"rotate", "--user", "u", "--change-format"}, "--change-format needs --format"},
		{[]string{"rotate", "--all", "--move"}, "drop --user, --parameter, --format, --move and --change-format"},
		{[]string{"rotate", "--user", "u", "extra"}, "unknown command"},
		{[]string{"status"}, "--user is required"},
		{[]string{"history", "not-an-arn"}, "is not an execution ARN"},
		{[]string{"history", "a", "b"}, "accepts at most 1 arg"},
		{[]string{"local", "up", "--schedule", "rate(5 minutes)"}, "--schedule needs --user"},
		{[]string{"local", "up", "--user", "u", "--schedule", "every day"}, "want rate(…), cron(…) or at(…)"},
		{[]string{"local", "up", "--propagation-delay", "forever"}, "--propagation-delay"},
		{[]string{"local", "up", "--user", "u", "--schedule", "rate(1 day)", "--grace", "-1"}, "between 0 and 604800"},
		{[]string{"demo", "--grace", "1x"}, "--grace"},
		{[]string{"rotat"}, "unknown command"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := cli(t, tc.args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "--help") {
				t.Errorf("exit %d, stderr %q (stdout %q); want exit %d naming %q and pointing to --help", code, stderr, stdout, exitUsage, tc.want)
			}
		})
	}
	if after := count(); after != before {
		t.Errorf("%d executions were started by refused command lines", after-before)
	}
}

func TestDemoJSONReportsARotationThatRetiredTheOldKey(t *testing.T) {
	code, stdout, stderr := cli(t, "demo", "--json", "--grace", "0", "--inactive", "0")
	if code != exitOK {
		t.Fatalf("demo --json exited %d:\n%s\n%s", code, stdout, stderr)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("demo --json printed something other than one JSON object: %v\n%s", err, stdout)
	}
	for _, field := range []string{"status", "user", "parameter", "new_access_key_id", "deleted_access_key_ids", "states", "transitions", "verify_seconds", "duration_seconds"} {
		if _, ok := r[field]; !ok {
			t.Errorf("demo --json has no %q", field)
		}
	}
	var d demoReport
	if err := json.Unmarshal([]byte(stdout), &d); err != nil {
		t.Fatal(err)
	}
	if d.Status != "SUCCEEDED" || !strings.HasPrefix(d.NewAccessKeyID, "AKIA") || len(d.OldAccessKeyIDs) != 1 ||
		len(d.DeletedAccessKeyIDs) != 1 || d.DeletedAccessKeyIDs[0] != d.OldAccessKeyIDs[0] {
		t.Errorf("demo: status %s, new %s, old %v, deleted %v", d.Status, d.NewAccessKeyID, d.OldAccessKeyIDs, d.DeletedAccessKeyIDs)
	}
	if len(d.RemainingAccessKeys) != 1 || d.RemainingAccessKeys[0] != (demoKey{ID: d.NewAccessKeyID, Status: "Active"}) {
		t.Errorf("demo: after the rotation the user has %v, want only %s Active", d.RemainingAccessKeys, d.NewAccessKeyID)
	}
	if d.ConsumerIdentityARN == "" || d.ConsumerIdentityARN != d.UserARN {
		t.Errorf("demo consumer check: the key authenticated as %q, user is %q", d.ConsumerIdentityARN, d.UserARN)
	}
	if len(d.States) < 10 || d.Transitions < len(d.States) || d.VerifySeconds < 0 || d.DurationSeconds <= d.RotationSeconds {
		t.Errorf("demo figures: %d states, %d transitions, verify %.3fs, rotation %.3fs, total %.3fs",
			len(d.States), d.Transitions, d.VerifySeconds, d.RotationSeconds, d.DurationSeconds)
	}
}

// A move and a format change happen only when asked for by flag: without --move the run is
// refused (ParameterMismatch) and nothing changes; with it (and the user's keyrotor:parameter
// tag naming the target) the key moves and the old parameter goes once the new key is verified.
func TestRotateMovesOrChangesFormatOnlyWhenAskedTo(t *testing.T) {
	useLocal(t)
	ctx := context.Background()
	user := "cli-move-signer"
	old := "/keyrotor/" + user
	if _, err := env.CreateManagedUser(ctx, localenv.ManagedUser{Name: user, Keys: 1, Parameter: old}); err != nil {
		t.Fatal(err)
	}
	moved := "/keyrotor/apps/" + user
	ssmc := ssm.NewFromConfig(env.AdminConfig())
	code, stdout, stderr := cli(t, "rotate", "--user", user, "--parameter", moved, "--grace", "0", "--inactive", "0", "--wait")
	if code != exitFailed || !strings.Contains(stdout+stderr, "ParameterMismatch") {
		t.Fatalf("rotate to another parameter without --move exited %d, want %d with ParameterMismatch:\n%s\n%s", code, exitFailed, stdout, stderr)
	}
	if _, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(moved)}); err == nil {
		t.Fatalf("the refused run created %s", moved)
	}
	if _, err := iam.NewFromConfig(env.AdminConfig()).TagUser(ctx, &iam.TagUserInput{UserName: aws.String(user), Tags: []iamtypes.Tag{
		{Key: aws.String(rotation.ParameterTagKey), Value: aws.String(moved)},
	}}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = cli(t, "rotate", "--user", user, "--parameter", moved, "--move", "--grace", "0", "--inactive", "0", "--wait")
	if code != 0 {
		t.Fatalf("rotate --move exited %d:\n%s\n%s", code, stdout, stderr)
	}
	if _, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(moved)}); err != nil {
		t.Fatalf("after --move %s is missing: %v", moved, err)
	}
	if _, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(old)}); err == nil {
		t.Errorf("after --move the old parameter %s still exists", old)
	}

	code, stdout, stderr = cli(t, "rotate", "--user", user, "--parameter", moved, "--format", "raw", "--grace", "0", "--inactive", "0", "--wait")
	if code != exitFailed || !strings.Contains(stdout+stderr, "FormatMismatch") {
		t.Fatalf("rotate --format raw without --change-format exited %d, want %d with FormatMismatch:\n%s\n%s", code, exitFailed, stdout, stderr)
	}
	if _, err := iam.NewFromConfig(env.AdminConfig()).TagUser(ctx, &iam.TagUserInput{UserName: aws.String(user), Tags: []iamtypes.Tag{
		{Key: aws.String(rotation.FormatTagKey), Value: aws.String(rotation.FormatRaw)},
	}}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = cli(t, "rotate", "--user", user, "--parameter", moved, "--format", "raw", "--change-format", "--grace", "0", "--inactive", "0", "--wait")
	if code != 0 {
		t.Fatalf("rotate --change-format exited %d:\n%s\n%s", code, stdout, stderr)
	}
	p, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(moved), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if v := aws.ToString(p.Parameter.Value); strings.HasPrefix(v, "{") || strings.Contains(stdout+stderr, v) {
		t.Errorf("after --change-format raw the parameter is not the bare secret, or the secret was printed")
	}
}
