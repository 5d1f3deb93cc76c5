// Package hosting runs keyrotor's real bootstraps under the local Lambda host against moto.
package hosting

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/lambdahost"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

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
	moto := testutil.Moto(t, motoserver.Options{Auth: true})
	testutil.CreateUser(t, moto.AdminConfig(), "signer", 0, testutil.ManagedTag)
	bin := filepath.Join(t.TempDir(), "bootstrap")
	testutil.TrackGoPackages(t, ".", "../../../functions/createkey")
	if out, err := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "../../../functions/createkey").CombinedOutput(); err != nil {
		t.Fatalf("build createkey: %v\n%s", err, out)
	}

	rec := &lambdahost.Recorder{}
	h := lambdahost.New(lambdahost.Options{LogSink: rec.Add})
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
	execution := testutil.StartStandInExecution(t, moto.AdminConfig(), "hosted", `{"userName":"signer"}`)

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
	if logs := strings.Join(rec.ForRequest(begun.RequestID), "\n"); !strings.Contains(logs, `"step":"begin"`) {
		t.Errorf("no JSON step log tagged with request %s:\n%s", begun.RequestID, logs)
	}
	if strings.Contains(rec.String(), moto.Admin.SecretAccessKey) {
		t.Errorf("the function's secret access key reached the captured logs")
	}
}
