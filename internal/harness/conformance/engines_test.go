package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// outcome is what one engine did with one scenario.
type outcome struct {
	Name    string          `json:"name"`
	Status  string          `json:"status"`
	Output  json.RawMessage `json:"output"`
	Error   string          `json:"error"`
	Cause   string          `json:"cause"`
	Path    []string        `json:"path"`
	Calls   []call          `json:"calls"`
	Problem string          `json:"problem"` // the engine refused the definition or broke down
	Millis  int             `json:"ms"`      // how long the Node runner took for it
}

const (
	region          = "us-east-1"
	account         = "123456789012"
	stateMachineArn = "arn:aws:states:" + region + ":" + account + ":stateMachine:conformance"
	roleArn         = "arn:aws:iam::" + account + ":role/conformance"
)

func executionArn(name string) string {
	return "arn:aws:states:" + region + ":" + account + ":execution:conformance:" + executionName(name)
}

func executionName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c == '/' {
			b[i] = '-'
		}
	}
	return string(b)
}

// runStubbed runs sm in sfnlocal as the execution name, its tasks answered by stubs of
// tasks, on a virtual clock and with fixed randomness, so that every run is the same.
func runStubbed(ctx context.Context, sm *sfnlocal.StateMachine, name string, input json.RawMessage, tasks map[string][]Result) (*sfnlocal.Execution, *stubs) {
	st := newStubs(tasks)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return sfnlocal.Run(ctx, sm, input, sfnlocal.Options{
		Tasks:           st,
		Clock:           sfnlocal.NewVirtualClock(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)),
		ExecutionArn:    executionArn(name),
		StateMachineArn: stateMachineArn,
		Name:            executionName(name),
		RoleArn:         roleArn,
		Rand:            rand.New(rand.NewPCG(1, 2)),
		Region:          region,
	}), st
}

// runSfnlocal runs sc in internal/sfnlocal on a virtual clock.
func runSfnlocal(ctx context.Context, sc Scenario) outcome {
	o := outcome{Name: sc.Name}
	sm, err := sfnlocal.Parse(sc.Definition)
	if err != nil {
		o.Status, o.Problem = "INVALID", err.Error()
		return o
	}
	ex, st := runStubbed(ctx, sm, sc.Name, sc.Input, sc.Tasks)
	o.Status, o.Output, o.Error, o.Cause = ex.Status, ex.Output, ex.Error, ex.Cause
	o.Path = ex.StatePath()
	st.mu.Lock()
	o.Calls = append([]call(nil), st.calls...)
	st.mu.Unlock()
	return o
}

// nodeTools are the paths runNode needs; missing ones mean `make tools` has not run.
type nodeTools struct{ node, engine, runner string }

// findNodeTools looks for Node 22 and aws-local-stepfunctions under the repository root.
func findNodeTools(root string) (nodeTools, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nodeTools{}, err
	}
	t := nodeTools{
		node:   filepath.Join(root, "scripts", "npm", "node_modules", ".bin", "node"),
		engine: filepath.Join(root, "scripts", "npm", "node_modules", "aws-local-stepfunctions", "build", "main.node.esm.js"),
		runner: filepath.Join(root, "internal", "harness", "conformance", "runner.mjs"),
	}
	for _, p := range []string{t.node, t.engine} {
		if _, err := os.Stat(p); err != nil {
			return t, fmt.Errorf("%s is missing: run `make tools` (scripts/install-tools.sh installs Node 22 and aws-local-stepfunctions 3.0.0 into scripts/npm)", p)
		}
	}
	return t, nil
}

// runNode runs all scenarios in aws-local-stepfunctions in one Node process.
func runNode(ctx context.Context, t nodeTools, scenarios []Scenario) (map[string]outcome, error) {
	type nodeScenario struct {
		Name            string              `json:"name"`
		Definition      json.RawMessage     `json:"definition"`
		Input           json.RawMessage     `json:"input"`
		ExecutionArn    string              `json:"executionArn"`
		StateMachineArn string              `json:"stateMachineArn"`
		RoleArn         string              `json:"roleArn"`
		Tasks           map[string][]Result `json:"tasks"`
	}
	var batch struct {
		Scenarios []nodeScenario `json:"scenarios"`
	}
	for _, sc := range scenarios {
		batch.Scenarios = append(batch.Scenarios, nodeScenario{
			Name: sc.Name, Definition: sc.Definition, Input: sc.Input, ExecutionArn: executionArn(sc.Name),
			StateMachineArn: stateMachineArn, RoleArn: roleArn, Tasks: sc.Tasks,
		})
	}
	in, err := json.Marshal(batch)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, t.node, t.runner, t.engine)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("node %s: %w\n%s", t.runner, err, stderr.String())
	}
	var outs []outcome
	if err := json.Unmarshal(stdout.Bytes(), &outs); err != nil {
		return nil, fmt.Errorf("node runner answered something that is not its result list: %w\n%s", err, stderr.String())
	}
	byName := map[string]outcome{}
	for _, o := range outs {
		byName[o.Name] = o
	}
	return byName, nil
}
