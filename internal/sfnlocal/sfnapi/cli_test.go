package sfnapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// awsCLI runs `aws stepfunctions <args> --endpoint-url <h.url>` with dummy credentials and no
// shared config, and returns stdout, stderr and the error.
func (h *harness) awsCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	bin, lerr := exec.LookPath("aws")
	if lerr != nil {
		t.Fatalf("the AWS CLI (`aws`) is not on PATH; install it with `pip install awscli` (scripts/install-tools.sh does): %v", lerr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{"stepfunctions"}, args...)
	full = append(full, "--endpoint-url", h.url, "--output", "json")
	cmd := exec.CommandContext(ctx, bin, full...)
	dir := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_DEFAULT_REGION="+region,
		"AWS_CONFIG_FILE="+filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func (h *harness) awsCLIJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out, stderr, err := h.awsCLI(t, args...)
	if err != nil {
		t.Fatalf("aws stepfunctions %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("aws stepfunctions %s printed %q: %v", args[0], out, err)
	}
}

// The AWS CLI, an independent client, drives a whole execution against the server.
func TestAWSCLIRunsAnExecution(t *testing.T) {
	h := newHarness(t)

	var created struct{ StateMachineArn string }
	h.awsCLIJSON(t, &created, "create-state-machine", "--name", "rotate", "--definition", chainDef, "--role-arn", roleArn)
	if created.StateMachineArn != machineArn("rotate") {
		t.Fatalf("created %q", created.StateMachineArn)
	}

	var started struct{ ExecutionArn string }
	h.awsCLIJSON(t, &started, "start-execution", "--state-machine-arn", created.StateMachineArn, "--name", "by-cli", "--input", `{"userName":"s3-signer"}`)
	if want := "arn:aws:states:us-east-1:123456789012:execution:rotate:by-cli"; started.ExecutionArn != want {
		t.Fatalf("started %q, want %q", started.ExecutionArn, want)
	}
	h.wait(t, started.ExecutionArn)

	var described struct {
		Status, Input, Output, StateMachineArn, Name string
		StartDate, StopDate                          any // the CLI prints epoch seconds or ISO text, by version
	}
	h.awsCLIJSON(t, &described, "describe-execution", "--execution-arn", started.ExecutionArn)
	if described.Status != "SUCCEEDED" || described.StateMachineArn != created.StateMachineArn || described.Name != "by-cli" {
		t.Errorf("describe-execution: %+v", described)
	}
	jsonEqual(t, described.Output, `{"userName":"s3-signer"}`)
	if described.StartDate == nil || described.StopDate == nil {
		t.Errorf("dates missing: %+v", described)
	}

	events, err := h.srv.History(context.Background(), started.ExecutionArn)
	if err != nil {
		t.Fatal(err)
	}
	for _, reverse := range []bool{false, true} {
		args := []string{"get-execution-history", "--execution-arn", started.ExecutionArn, "--page-size", "4"}
		if reverse {
			args = append(args, "--reverse-order")
		}
		var hist struct {
			Events []struct {
				ID   int64 `json:"id"`
				Type string
			}
		}
		h.awsCLIJSON(t, &hist, args...)
		if len(hist.Events) != len(events) {
			t.Fatalf("reverse=%v: the CLI paged through %d events, want %d", reverse, len(hist.Events), len(events))
		}
		first, last := hist.Events[0], hist.Events[len(hist.Events)-1]
		if reverse {
			first, last = last, first
		}
		if first.Type != "ExecutionStarted" || first.ID != 1 || last.Type != "ExecutionSucceeded" || last.ID != int64(len(events)) {
			t.Errorf("reverse=%v: first %+v last %+v", reverse, first, last)
		}
	}

	_, stderr, err := h.awsCLI(t, "describe-execution", "--execution-arn", "arn:aws:states:us-east-1:123456789012:execution:rotate:missing")
	if err == nil || !strings.Contains(stderr, "(ExecutionDoesNotExist)") {
		t.Errorf("describe of a missing execution: err %v, stderr %q; want the ExecutionDoesNotExist error", err, stderr)
	}
	_, stderr, err = h.awsCLI(t, "start-execution", "--state-machine-arn", created.StateMachineArn, "--input", "{not json")
	if err == nil || !strings.Contains(stderr, "(InvalidExecutionInput)") {
		t.Errorf("start with bad input: err %v, stderr %q; want InvalidExecutionInput", err, stderr)
	}
}
