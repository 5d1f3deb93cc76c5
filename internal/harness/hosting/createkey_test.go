// Package hosting runs keyrotor's real bootstraps under the local Lambda host against moto.
package hosting

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/lambdahost"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// logRecorder is a LogSink that keeps every line the host captured.
type logRecorder struct {
	mu    sync.Mutex
	lines []lambdahost.LogLine
}

func (r *logRecorder) sink(l lambdahost.LogLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, l)
}

func (r *logRecorder) forRequest(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.lines {
		if l.RequestID == id {
			out = append(out, l.Text)
		}
	}
	return out
}

func (r *logRecorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, l := range r.lines {
		b.WriteString(l.Text + "\n")
	}
	return b.String()
}

func invoke(t *testing.T, h *lambdahost.Host, name, payload string) *lambdahost.Result {
	t.Helper()
	res, err := h.Invoke(context.Background(), name, []byte(payload))
	if err != nil {
		t.Fatalf("invoke %s: %v", name, err)
	}
	return res
}

// TestHostsKeyrotorCreateKeyAgainstMoto runs the real createkey bootstrap under the host, with
// moto credentials passed in Env, and proves its errors, JSON logs and secret handling.
func TestHostsKeyrotorCreateKeyAgainstMoto(t *testing.T) {
	if _, err := exec.LookPath("moto_server"); err != nil {
		t.Skip("moto_server not installed: " + motoserver.InstallHint)
	}
	ctx := context.Background()
	moto, err := motoserver.Start(ctx, motoserver.Options{Auth: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moto.Stop)
	if _, err := iam.NewFromConfig(moto.AdminConfig()).CreateUser(ctx, &iam.CreateUserInput{
		UserName: aws.String("signer"),
		Tags:     []iamtypes.Tag{{Key: aws.String(rotation.ManagedTagKey), Value: aws.String(rotation.ManagedTagValue)}},
	}); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "bootstrap")
	if out, err := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "../../../functions/createkey").CombinedOutput(); err != nil {
		t.Fatalf("build createkey: %v\n%s", err, out)
	}

	rec := &logRecorder{}
	h := lambdahost.New(lambdahost.Options{LogSink: rec.sink})
	t.Cleanup(func() { _ = h.Close() })
	home := t.TempDir()
	// Lambda's default 3 s timeout is too short for moto on a loaded machine; the engine
	// module gives the step functions 60 s.
	if _, err := h.Deploy(lambdahost.Function{Name: "keyrotor-createkey", Path: bin, Timeout: 60 * time.Second, Env: map[string]string{
		"AWS_ENDPOINT_URL":            moto.Endpoint,
		"AWS_ACCESS_KEY_ID":           moto.Admin.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":       moto.Admin.SecretAccessKey,
		"AWS_CONFIG_FILE":             filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "credentials"),
		rotation.EnvKMSKeyID:          "alias/keyrotor",
	}}); err != nil {
		t.Fatal(err)
	}
	// Begin acts only for a RUNNING execution whose input is its request (docs/steps.md).
	sfnc := sfn.NewFromConfig(moto.AdminConfig())
	sm, err := sfnc.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("keyrotor-rotate"),
		Definition: aws.String(`{"StartAt":"Wait","States":{"Wait":{"Type":"Wait","Seconds":86400,"End":true}}}`),
		RoleArn:    aws.String("arn:aws:iam::" + motoserver.AccountID + ":role/keyrotor-sfn")})
	if err != nil {
		t.Fatal(err)
	}
	started, err := sfnc.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: sm.StateMachineArn, Name: aws.String("hosted"),
		Input: aws.String(`{"userName":"signer"}`)})
	if err != nil {
		t.Fatal(err)
	}
	execution := aws.ToString(started.ExecutionArn)

	missing := invoke(t, h, "keyrotor-createkey", `{"action":"begin","executionId":"`+execution+`","rotation":{"userName":"nobody"}}`)
	if missing.FunctionError != "Unhandled" || missing.ErrorType != rotation.UserNotFound {
		t.Errorf("begin for a missing user: %s %s %s", missing.FunctionError, missing.ErrorType, missing.Payload)
	}
	t.Logf("createkey cold start: init duration %v, duration %v, billed %v, max memory %d MB",
		missing.InitDuration, missing.Duration, missing.BilledDuration, missing.MaxMemoryUsedMB)
	begun := invoke(t, h, "keyrotor-createkey", `{"action":"begin","executionId":"`+execution+`","rotation":{"userName":"signer"}}`)
	var r rotation.Rotation
	if err := json.Unmarshal(begun.Payload, &r); err != nil || begun.FunctionError != "" || r.LockID != execution {
		t.Errorf("begin: %s %s", begun.ErrorType, begun.Payload)
	}
	if begun.InitDuration != 0 {
		t.Errorf("second invocation was a cold start")
	}
	if logs := strings.Join(rec.forRequest(begun.RequestID), "\n"); !strings.Contains(logs, `"step":"begin"`) {
		t.Errorf("no JSON step log tagged with request %s:\n%s", begun.RequestID, logs)
	}
	if strings.Contains(rec.all(), moto.Admin.SecretAccessKey) {
		t.Errorf("the function's secret access key reached the captured logs")
	}
}
