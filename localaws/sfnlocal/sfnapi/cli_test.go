package sfnapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// awsCLI runs `aws stepfunctions <args> --endpoint-url <url>` with dummy credentials and no
// shared config.
type awsCLI struct {
	bin, url, dir string
}

type cliResult struct {
	stdout, stderr string
	err            error
}

func newAWSCLI(t *testing.T, url string) *awsCLI {
	t.Helper()
	bin, err := motoserver.Program("aws")
	if err != nil {
		t.Fatalf("the AWS CLI (`aws`) is not on PATH; install it with `pip install awscli` (scripts/install-tools.sh does): %v", err)
	}
	return &awsCLI{bin: bin, url: url, dir: t.TempDir()}
}

func (c *awsCLI) run(args ...string) cliResult {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{"stepfunctions"}, args...)
	full = append(full, "--endpoint-url", c.url, "--output", "json")
	cmd := exec.CommandContext(ctx, c.bin, full...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_DEFAULT_REGION="+region,
		"AWS_CONFIG_FILE="+filepath.Join(c.dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(c.dir, "credentials"),
		"AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return cliResult{out.String(), errb.String(), err}
}

func (r cliResult) decode(t *testing.T, what string, v any) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("aws stepfunctions %s: %v\n%s", what, r.err, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("aws stepfunctions %s printed %q: %v", what, r.stdout, err)
	}
}

// The AWS CLI, an independent client, drives a whole execution against the server.
func TestAWSCLIRunsAnExecution(t *testing.T) {
	h := newHarness(t)
	cli := newAWSCLI(t, h.url)

	var created struct{ StateMachineArn string }
	cli.run("create-state-machine", "--name", "rotate", "--definition", chainDef, "--role-arn", roleArn).decode(t, "create-state-machine", &created)
	if created.StateMachineArn != machineArn("rotate") {
		t.Fatalf("created %q", created.StateMachineArn)
	}
	var started struct{ ExecutionArn string }
	cli.run("start-execution", "--state-machine-arn", created.StateMachineArn, "--name", "by-cli", "--input", `{"userName":"s3-signer"}`).decode(t, "start-execution", &started)
	if want := "arn:aws:states:us-east-1:123456789012:execution:rotate:by-cli"; started.ExecutionArn != want {
		t.Fatalf("started %q, want %q", started.ExecutionArn, want)
	}
	h.wait(t, started.ExecutionArn)

	// The remaining calls are independent: run them at once (each CLI start costs ~1s).
	calls := map[string][]string{
		"describe":        {"describe-execution", "--execution-arn", started.ExecutionArn},
		"history":         {"get-execution-history", "--execution-arn", started.ExecutionArn, "--page-size", "4"},
		"history-reverse": {"get-execution-history", "--execution-arn", started.ExecutionArn, "--page-size", "4", "--reverse-order"},
		"missing":         {"describe-execution", "--execution-arn", "arn:aws:states:us-east-1:123456789012:execution:rotate:missing"},
		"bad-input":       {"start-execution", "--state-machine-arn", created.StateMachineArn, "--input", "{not json"},
	}
	results := map[string]cliResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, args := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := cli.run(args...)
			mu.Lock()
			results[name] = r
			mu.Unlock()
		}()
	}
	wg.Wait()

	var described struct {
		Status, Input, Output, StateMachineArn, Name string
		StartDate, StopDate                          any // the CLI prints epoch seconds or ISO text, by version
	}
	results["describe"].decode(t, "describe-execution", &described)
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
	for _, name := range []string{"history", "history-reverse"} {
		var hist struct {
			Events []struct {
				ID   int64 `json:"id"`
				Type string
			}
		}
		results[name].decode(t, "get-execution-history", &hist)
		if len(hist.Events) != len(events) {
			t.Fatalf("%s: the CLI paged through %d events, want %d", name, len(hist.Events), len(events))
		}
		first, last := hist.Events[0], hist.Events[len(hist.Events)-1]
		if name == "history-reverse" {
			first, last = last, first
		}
		if first.Type != "ExecutionStarted" || first.ID != 1 || last.Type != "ExecutionSucceeded" || last.ID != int64(len(events)) {
			t.Errorf("%s: first %+v last %+v", name, first, last)
		}
	}

	if r := results["missing"]; r.err == nil || !strings.Contains(r.stderr, "(ExecutionDoesNotExist)") {
		t.Errorf("describe of a missing execution: err %v, stderr %q; want the ExecutionDoesNotExist error", r.err, r.stderr)
	}
	if r := results["bad-input"]; r.err == nil || !strings.Contains(r.stderr, "(InvalidExecutionInput)") {
		t.Errorf("start with bad input: err %v, stderr %q; want InvalidExecutionInput", r.err, r.stderr)
	}
}
