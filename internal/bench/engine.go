package bench

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"time"

	"github.com/keyrotor/keyrotor/internal/sfnlocal"
)

// workflowASL is the engine-speed workflow: 10 states entered per execution, stubbed tasks.
//
//go:embed workflow.asl.json
var workflowASL []byte

// engineRunner times the workflow in aws-local-stepfunctions inside one Node process.
//
//go:embed engine.mjs
var engineRunner []byte

// workflowInput and workflowTasks are what both engines get: the same input and the same
// stub answer per Task state.
var (
	workflowInput = json.RawMessage(`{"userName":"bench-user"}`)
	workflowTasks = map[string]json.RawMessage{
		"Create": json.RawMessage(`{"ok":true,"keyId":"AKIABENCHMARK0000001"}`),
		"Store":  json.RawMessage(`{"version":2}`),
		"Verify": json.RawMessage(`{"ok":true}`),
	}
)

// EngineSpeed compares internal/sfnlocal with aws-local-stepfunctions on the same workflow.
type EngineSpeed struct {
	Workflow       string   `json:"workflow"`
	StatesEntered  int      `json:"states_entered"`
	Sfnlocal       Timing   `json:"sfnlocal"`
	AWSLocal       Timing   `json:"aws_local_stepfunctions"`
	Speedup        float64  `json:"speedup"`
	SamePathOutput bool     `json:"same_path_and_output"`
	Path           []string `json:"path"`
}

// Timing is one engine's sequential run of many executions.
type Timing struct {
	Executions    int     `json:"executions"`
	Seconds       float64 `json:"seconds"`
	ExecPerSecond float64 `json:"executions_per_second"`
}

func timing(runs int, seconds float64) Timing {
	t := Timing{Executions: runs, Seconds: seconds}
	if seconds > 0 {
		t.ExecPerSecond = float64(runs) / seconds
	}
	return t
}

// nodePaths are Node 22 and aws-local-stepfunctions as `make tools` installs them.
func nodePaths(root string) (node, engine string, err error) {
	node = filepath.Join(root, "scripts", "npm", "node_modules", ".bin", "node")
	engine = filepath.Join(root, "scripts", "npm", "node_modules", "aws-local-stepfunctions", "build", "main.node.esm.js")
	for _, p := range []string{node, engine} {
		if _, err := os.Stat(p); err != nil {
			return "", "", fmt.Errorf("%s is missing: run `make tools` (scripts/install-tools.sh installs Node 22 and aws-local-stepfunctions 3.0.0 into scripts/npm)", p)
		}
	}
	return node, engine, nil
}

// measureEngines runs the workflow sequentially in sfnlocal, then in aws-local-stepfunctions,
// each for at least minRuns executions and minTime after warmup executions.
func measureEngines(ctx context.Context, root string, warmup, minRuns int, minTime time.Duration) (EngineSpeed, error) {
	res := EngineSpeed{Workflow: "internal/bench/workflow.asl.json"}
	sm, err := sfnlocal.Parse(workflowASL)
	if err != nil {
		return res, fmt.Errorf("engine speed: parse the workflow: %w", err)
	}
	tasks := sfnlocal.TaskInvokerFunc(func(_ context.Context, req sfnlocal.TaskRequest) (json.RawMessage, error) {
		out, ok := workflowTasks[req.StateName]
		if !ok {
			return nil, sfnlocal.NewTaskFailure("Stub.Missing", "no stub for state "+req.StateName)
		}
		return out, nil
	})
	opts := sfnlocal.Options{
		Tasks: tasks, Clock: sfnlocal.RealClock(),
		ExecutionArn:    "arn:aws:states:us-east-1:123456789012:execution:bench:run",
		StateMachineArn: "arn:aws:states:us-east-1:123456789012:stateMachine:bench",
		Name:            "run", RoleArn: "arn:aws:iam::123456789012:role/bench",
	}
	first := sfnlocal.Run(ctx, sm, workflowInput, opts)
	if first.Status != sfnlocal.StatusSucceeded {
		return res, fmt.Errorf("engine speed: sfnlocal ended the workflow %s (%s: %s)", first.Status, first.Error, first.Cause)
	}
	res.Path = first.StatePath()
	res.StatesEntered = len(res.Path)
	for range warmup {
		sfnlocal.Run(ctx, sm, workflowInput, opts)
	}
	runs, start := 0, time.Now()
	for runs < minRuns || time.Since(start) < minTime {
		if ex := sfnlocal.Run(ctx, sm, workflowInput, opts); ex.Status != sfnlocal.StatusSucceeded {
			return res, fmt.Errorf("engine speed: sfnlocal execution %d ended %s", runs, ex.Status)
		}
		runs++
	}
	res.Sfnlocal = timing(runs, time.Since(start).Seconds())

	node, err := runNodeEngine(ctx, root, warmup, minRuns, minTime)
	if err != nil {
		return res, err
	}
	res.AWSLocal = timing(node.Runs, node.Seconds)
	res.SamePathOutput = reflect.DeepEqual(node.Path, res.Path) && jsonEqual(node.Output, first.Output)
	if !res.SamePathOutput {
		return res, fmt.Errorf("engine speed: the engines disagree on the workflow: sfnlocal %v → %s, aws-local-stepfunctions %v → %s",
			res.Path, first.Output, node.Path, node.Output)
	}
	if res.AWSLocal.ExecPerSecond > 0 {
		res.Speedup = res.Sfnlocal.ExecPerSecond / res.AWSLocal.ExecPerSecond
	}
	return res, nil
}

type nodeResult struct {
	Runs    int             `json:"runs"`
	Seconds float64         `json:"seconds"`
	Output  json.RawMessage `json:"output"`
	Path    []string        `json:"path"`
}

func runNodeEngine(ctx context.Context, root string, warmup, minRuns int, minTime time.Duration) (nodeResult, error) {
	var res nodeResult
	node, engine, err := nodePaths(root)
	if err != nil {
		return res, fmt.Errorf("engine speed: %w", err)
	}
	dir, err := os.MkdirTemp("", "keyrotor-bench-")
	if err != nil {
		return res, fmt.Errorf("engine speed: %w", err)
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "engine.mjs")
	if err := os.WriteFile(script, engineRunner, 0o644); err != nil {
		return res, fmt.Errorf("engine speed: %w", err)
	}
	job, err := json.Marshal(map[string]any{
		"definition": json.RawMessage(workflowASL), "input": workflowInput, "tasks": workflowTasks,
		"warmup": warmup, "minRuns": minRuns, "minMillis": minTime.Milliseconds(),
	})
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, engine)
	cmd.Stdin = bytes.NewReader(job)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return res, fmt.Errorf("engine speed: node %s: %w\n%s", script, err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return res, fmt.Errorf("engine speed: the Node runner answered something that is not its result: %w\n%s", err, stderr.String())
	}
	if res.Runs <= 0 || res.Seconds <= 0 {
		return res, fmt.Errorf("engine speed: the Node runner timed no executions: %s", stdout.String())
	}
	return res, nil
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
