package bench

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"syscall"
	"time"

	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
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
// Speedup compares executions per CPU-second (user+system time of each engine's process, all
// threads: GC and JIT included), which a shared machine's load disturbs far less than
// wall-clock rates; WallSpeedup is the wall-clock ratio.
type EngineSpeed struct {
	Workflow       string    `json:"workflow"`
	StatesEntered  int       `json:"states_entered"`
	Sfnlocal       Timing    `json:"sfnlocal"`
	AWSLocal       Timing    `json:"aws_local_stepfunctions"`
	Speedup        float64   `json:"speedup"`
	WallSpeedup    float64   `json:"wall_speedup"`
	Rounds         int       `json:"rounds"`
	RoundSpeedups  []float64 `json:"round_speedups"`
	SamePathOutput bool      `json:"same_path_and_output"`
	Path           []string  `json:"path"`
}

// Timing is one engine's sequential executions, summed over the rounds.
type Timing struct {
	Executions       int     `json:"executions"`
	Seconds          float64 `json:"seconds"`
	CPUSeconds       float64 `json:"cpu_seconds"`
	ExecPerSecond    float64 `json:"executions_per_second"`
	ExecPerCPUSecond float64 `json:"executions_per_cpu_second"`
}

func (t *Timing) add(runs int, seconds, cpu float64) {
	t.Executions += runs
	t.Seconds += seconds
	t.CPUSeconds += cpu
	if t.Seconds > 0 {
		t.ExecPerSecond = float64(t.Executions) / t.Seconds
	}
	if t.CPUSeconds > 0 {
		t.ExecPerCPUSecond = float64(t.Executions) / t.CPUSeconds
	}
}

// processCPU is this process's user+system time so far.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
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

// enginePlan is how long the engines are timed.
type enginePlan struct {
	warmup, rounds, minRuns int
	roundTime               time.Duration
}

// measureEngines times the workflow in sfnlocal and in aws-local-stepfunctions (one Node
// process) in alternating rounds, so that a change in the machine's load hits both alike;
// each engine runs its executions one after another after a warm-up.
func measureEngines(ctx context.Context, root string, p enginePlan) (EngineSpeed, error) {
	res := EngineSpeed{Workflow: "internal/bench/workflow.asl.json", Rounds: p.rounds}
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
	for range p.warmup {
		sfnlocal.Run(ctx, sm, workflowInput, opts)
	}

	node, err := startNodeEngine(ctx, root, p.warmup)
	if err != nil {
		return res, err
	}
	defer node.close()
	res.SamePathOutput = reflect.DeepEqual(node.path, res.Path) && testutil.JSONEqual(node.output, first.Output)
	if !res.SamePathOutput {
		return res, fmt.Errorf("engine speed: the engines disagree on the workflow: sfnlocal %v → %s, aws-local-stepfunctions %v → %s",
			res.Path, first.Output, node.path, node.output)
	}

	for round := range p.rounds {
		runs, cpu0, start := 0, processCPU(), time.Now()
		for runs < p.minRuns || time.Since(start) < p.roundTime {
			if ex := sfnlocal.Run(ctx, sm, workflowInput, opts); ex.Status != sfnlocal.StatusSucceeded {
				return res, fmt.Errorf("engine speed: sfnlocal execution ended %s", ex.Status)
			}
			runs++
		}
		goSecs, goCPU := time.Since(start).Seconds(), processCPU()-cpu0
		res.Sfnlocal.add(runs, goSecs, goCPU)

		nr, err := node.round(p.minRuns, p.roundTime)
		if err != nil {
			return res, fmt.Errorf("engine speed: round %d: %w", round+1, err)
		}
		res.AWSLocal.add(nr.Runs, nr.Seconds, nr.CPUSeconds)
		if goCPU > 0 && nr.CPUSeconds > 0 {
			res.RoundSpeedups = append(res.RoundSpeedups, (float64(runs)/goCPU)/(float64(nr.Runs)/nr.CPUSeconds))
		}
	}
	if res.AWSLocal.ExecPerCPUSecond > 0 {
		res.Speedup = res.Sfnlocal.ExecPerCPUSecond / res.AWSLocal.ExecPerCPUSecond
	}
	if res.AWSLocal.ExecPerSecond > 0 {
		res.WallSpeedup = res.Sfnlocal.ExecPerSecond / res.AWSLocal.ExecPerSecond
	}
	if res.Speedup <= 0 {
		return res, fmt.Errorf("engine speed: no CPU time measured (sfnlocal %+v, aws-local-stepfunctions %+v)", res.Sfnlocal, res.AWSLocal)
	}
	return res, nil
}

// nodeEngine is the running Node side of the comparison.
type nodeEngine struct {
	cmd    *exec.Cmd
	dir    string
	stdin  io.WriteCloser
	out    *bufio.Scanner
	stderr *bytes.Buffer
	output json.RawMessage
	path   []string
}

func startNodeEngine(ctx context.Context, root string, warmup int) (*nodeEngine, error) {
	nodeBin, engine, err := nodePaths(root)
	if err != nil {
		return nil, fmt.Errorf("engine speed: %w", err)
	}
	dir, err := os.MkdirTemp("", "keyrotor-bench-")
	if err != nil {
		return nil, fmt.Errorf("engine speed: %w", err)
	}
	n := &nodeEngine{dir: dir, stderr: &bytes.Buffer{}}
	script := filepath.Join(dir, "engine.mjs")
	if err := os.WriteFile(script, engineRunner, 0o644); err != nil {
		n.close()
		return nil, fmt.Errorf("engine speed: %w", err)
	}
	n.cmd = exec.CommandContext(ctx, nodeBin, script, engine)
	n.cmd.Stderr = n.stderr
	if n.stdin, err = n.cmd.StdinPipe(); err != nil {
		n.close()
		return nil, fmt.Errorf("engine speed: %w", err)
	}
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		n.close()
		return nil, fmt.Errorf("engine speed: %w", err)
	}
	n.out = bufio.NewScanner(stdout)
	n.out.Buffer(make([]byte, 0, 64*1024), 16<<20)
	if err := n.cmd.Start(); err != nil {
		n.close()
		return nil, fmt.Errorf("engine speed: start node: %w", err)
	}
	var first struct {
		Output json.RawMessage `json:"output"`
		Path   []string        `json:"path"`
	}
	if err := n.exchange(map[string]any{
		"definition": json.RawMessage(workflowASL), "input": workflowInput, "tasks": workflowTasks, "warmup": warmup,
	}, &first); err != nil {
		n.close()
		return nil, err
	}
	n.output, n.path = first.Output, first.Path
	return n, nil
}

// exchange sends one JSON line and decodes the answer line.
func (n *nodeEngine) exchange(msg, answer any) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if _, err := n.stdin.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("engine speed: write to node: %w\n%s", err, n.stderr.String())
	}
	if !n.out.Scan() {
		return fmt.Errorf("engine speed: node answered nothing (%v)\n%s", n.out.Err(), n.stderr.String())
	}
	if err := json.Unmarshal(n.out.Bytes(), answer); err != nil {
		return fmt.Errorf("engine speed: node answered something that is not JSON: %w: %s", err, n.out.Bytes())
	}
	return nil
}

// nodeRound is one timed round on the Node side.
type nodeRound struct {
	Runs       int     `json:"runs"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpuSeconds"`
}

func (n *nodeEngine) round(minRuns int, minTime time.Duration) (nodeRound, error) {
	var r nodeRound
	if err := n.exchange(map[string]any{"minRuns": minRuns, "minMillis": minTime.Milliseconds()}, &r); err != nil {
		return r, err
	}
	if r.Runs <= 0 || r.Seconds <= 0 || r.CPUSeconds <= 0 {
		return r, fmt.Errorf("node timed no executions (%d in %v s, %v CPU-s)", r.Runs, r.Seconds, r.CPUSeconds)
	}
	return r, nil
}

func (n *nodeEngine) close() {
	if n.stdin != nil {
		_ = n.stdin.Close() // ends the runner's loop
	}
	if n.cmd != nil && n.cmd.Process != nil {
		done := make(chan struct{})
		go func() { _ = n.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = n.cmd.Process.Kill()
			<-done
		}
	}
	_ = os.RemoveAll(n.dir)
}
