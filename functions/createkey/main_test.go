package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// invocation is what the fake Lambda Runtime API got back for one event.
type invocation struct {
	kind string // "response" or "error"
	body []byte
}

// runtimeAPI serves events one at a time to a bootstrap, like the Lambda Runtime API does.
type runtimeAPI struct {
	events  chan []byte
	results chan invocation
}

func (rt *runtimeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/invocation/next"):
		select {
		case event := <-rt.events:
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", "req-1")
			w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(30*time.Second).UnixMilli()))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:createkey")
			_, _ = w.Write(event)
		case <-r.Context().Done():
		}
	case r.Method == http.MethodPost:
		body, _ := io.ReadAll(r.Body)
		kind := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		w.WriteHeader(http.StatusAccepted)
		rt.results <- invocation{kind: kind, body: body}
	default:
		http.NotFound(w, r)
	}
}

// TestBootstrapServesBeginThroughTheRuntimeAPI builds this function as Lambda runs it and
// checks the wire: results are the rotation document, errors carry the stable errorType.
func TestBootstrapServesBeginThroughTheRuntimeAPI(t *testing.T) {
	moto := testutil.Moto(t, motoserver.Options{})
	testutil.CreateUser(t, moto.AdminConfig(), "signer", 0, testutil.ManagedTag)

	bin := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	rt := &runtimeAPI{events: make(chan []byte, 1), results: make(chan invocation, 1)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rt}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	home := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"AWS_LAMBDA_RUNTIME_API=" + l.Addr().String(),
		"AWS_ENDPOINT_URL=" + moto.Endpoint, "AWS_REGION=" + motoserver.Region,
		"AWS_ACCESS_KEY_ID=" + moto.Admin.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + moto.Admin.SecretAccessKey,
		"AWS_CONFIG_FILE=" + home + "/config", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/credentials",
		rotation.EnvKMSKeyID + "=alias/keyrotor",
	}
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	invoke := func(event string) invocation {
		t.Helper()
		rt.events <- []byte(event)
		select {
		case res := <-rt.results:
			return res
		case <-time.After(30 * time.Second):
			t.Fatalf("no answer; logs:\n%s", logs.String())
			return invocation{}
		}
	}
	// Begin acts only for a RUNNING execution whose input is its request (docs/steps.md).
	execution := testutil.StartStandInExecution(t, moto.AdminConfig(), "wire", `{"userName":"signer"}`)

	res := invoke(`{"action":"begin","executionId":"` + execution + `","rotation":{"userName":"nobody"}}`)
	var lambdaErr struct{ ErrorType, ErrorMessage string }
	if err := json.Unmarshal(res.body, &lambdaErr); err != nil || res.kind != "error" || lambdaErr.ErrorType != rotation.UserNotFound {
		t.Errorf("begin for a missing user: %s %s, want an error of type UserNotFound", res.kind, res.body)
	}

	res = invoke(`{"action":"begin","executionId":"` + execution + `","rotation":{"userName":"signer"}}`)
	var r rotation.Rotation
	if err := json.Unmarshal(res.body, &r); err != nil || res.kind != "response" || r.LockID != execution || r.ParameterName != "/keyrotor/signer" {
		t.Errorf("begin: %s %s, want the rotation document holding the lock", res.kind, res.body)
	}
	if !strings.Contains(logs.String(), `"step":"begin"`) {
		t.Errorf("no JSON step log from the bootstrap:\n%s", logs.String())
	}
}
