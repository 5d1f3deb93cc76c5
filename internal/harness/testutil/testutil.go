// Package testutil holds the helpers keyrotor's tests share: waiting on a condition with a
// deadline, running the AWS CLI in an environment of its own, the JSON and Lambda-error shapes
// several suites compare, and the moto set-ups (a server per test or per package, the engine's
// stand-ins, a managed user; moto.go). Tests that share a whole local engine use
// internal/harness/testenv. It is harness: no product package may import it.
package testutil

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// WaitFor calls cond until it returns true, at intervals growing from 10 ms to 250 ms, and
// fails the test naming what it waited for if timeout passes first. cond may itself fail the
// test. Tests wait on conditions, never on the clock.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := 10 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		time.Sleep(interval)
		interval = min(interval*2, 250*time.Millisecond)
	}
}

// AWSCLI runs the AWS CLI with --output json in an environment of its own: PATH, an empty
// HOME and config files, env (endpoint, region, …) and, unless nil, creds. It returns the
// output and never prints it (it may hold a secret); a failure's message has creds' secret
// redacted.
func AWSCLI(t testing.TB, env []string, creds *aws.Credentials, args ...string) []byte {
	t.Helper()
	bin, err := motoserver.Program("aws")
	if err != nil {
		t.Skip("the AWS CLI (aws) is not on PATH; install it with: pip install awscli")
	}
	home := t.TempDir()
	cmd := exec.Command(bin, append(args, "--output", "json")...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_CONFIG_FILE=" + home + "/config", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/credentials",
		"AWS_PAGER="}, env...)
	if creds != nil {
		cmd.Env = append(cmd.Env, "AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := stderr.String()
		if creds != nil && creds.SecretAccessKey != "" {
			msg = strings.ReplaceAll(msg, creds.SecretAccessKey, "[redacted]")
		}
		t.Fatalf("aws %s: %v: %s", strings.Join(args[:min(2, len(args))], " "), err, msg)
	}
	return stdout.Bytes()
}

// LambdaCause is the Cause Step Functions reports for a Lambda function's error: the
// function's JSON error document
// (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).
func LambdaCause(errorType, message string) string {
	b, _ := json.Marshal(map[string]string{"errorMessage": message, "errorType": errorType})
	return string(b)
}

// JSONEqual reports whether a and b hold the same JSON value (key order and spacing aside).
func JSONEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// MustJSON encodes v, which the caller knows to be encodable.
func MustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
