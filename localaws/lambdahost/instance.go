package lambdahost

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// invocation is one event handed to an instance and what became of it.
type invocation struct {
	requestID string
	payload   []byte
	start     time.Time
	deadline  time.Time
	traceID   string
	result    chan outcome
	// nextCalled is closed when the runtime polls /next after being handed this invocation.
	nextCalled chan struct{}
	tail       tail
}

// outcome is what the runtime posted for an invocation.
type outcome struct {
	payload   []byte
	errorType string // empty on success
	message   string
}

// instance is one execution environment: a bootstrap process and its own Runtime API server.
type instance struct {
	fn       *function
	cmd      *exec.Cmd
	server   *http.Server
	logs     *logPipe
	redact   redactor
	started  time.Time
	ready    chan struct{} // closed at the runtime's first /next
	readyAt  time.Time
	queue    chan *invocation
	exited   chan struct{} // closed when the process has exited
	exitErr  error
	stopping chan struct{}
	stopOnce sync.Once
	lastUsed time.Time // guarded by function.mu

	mu      sync.Mutex
	current *invocation
	handed  *invocation // the last invocation /next returned, until the runtime polls again
	between []string
	initErr *outcome
}

// startInstance starts the function's bootstrap with a Runtime API of its own on 127.0.0.1.
func startInstance(fn *function) (*instance, error) {
	// Lambda loads the code at each cold start, so does the host: a bootstrap removed since
	// Deploy fails here naming its path. The stat also keys the result of a Go test that
	// invoked the function on the bootstrap's size and mtime (go test's cache records the files
	// a test stats, not the programs it executes), so a rebuilt bootstrap runs the test again.
	if _, err := os.Stat(fn.cfg.Path); err != nil {
		return nil, fmt.Errorf("start %s: bootstrap binary: %w", fn.cfg.Name, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the Runtime API of %s: %w", fn.cfg.Name, err)
	}
	logs, err := newLogPipe()
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	inst := &instance{
		fn:       fn,
		logs:     logs,
		redact:   fn.redact,
		ready:    make(chan struct{}),
		queue:    make(chan *invocation),
		exited:   make(chan struct{}),
		stopping: make(chan struct{}),
	}
	inst.server = &http.Server{Handler: inst.runtimeAPI(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = inst.server.Serve(l) }()

	cmd := exec.Command(fn.cfg.Path)
	cmd.Dir = filepath.Dir(fn.cfg.Path)
	cmd.Env = fn.environ(l.Addr().String())
	cmd.Stdout, cmd.Stderr = logs.w, logs.w
	// Its own process group, so a timeout kills whatever the function spawned too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	inst.cmd = cmd
	inst.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = inst.server.Close()
		_ = logs.w.Close()
		_ = logs.r.Close()
		return nil, fmt.Errorf("start %s (%s): %w", fn.cfg.Name, fn.cfg.Path, err)
	}
	go logs.read(inst.emit)
	go func() {
		inst.exitErr = cmd.Wait()
		close(inst.exited)
	}()
	return inst, nil
}

// emit records one line: to the host's sink, and to the invocation under way. Lines written
// between invocations (init output, or output after a response) go out untagged and start the
// next invocation's tail, as they would in its CloudWatch stream.
func (inst *instance) emit(text string) {
	text = inst.redact.apply(text)
	inst.mu.Lock()
	defer inst.mu.Unlock()
	line := LogLine{Time: time.Now(), Function: inst.fn.cfg.Name, Text: text}
	if inv := inst.current; inv != nil {
		line.RequestID = inv.requestID
		inv.tail.add(text)
	} else {
		inst.between = append(inst.between, text)
		if len(inst.between) > 200 {
			inst.between = inst.between[1:]
		}
	}
	inst.fn.host.sink(line)
}

// invoke runs one event to completion. cold says this is the instance's first event.
func (inst *instance) invoke(ctx context.Context, requestID string, payload []byte, cold bool) (*Result, bool) {
	res := &Result{RequestID: requestID, ExecutedVersion: "$LATEST"}
	inv := &invocation{requestID: requestID, payload: payload, traceID: newTraceID(), result: make(chan outcome, 1), nextCalled: make(chan struct{})}
	inv.tail.max = inst.fn.host.opts.TailBytes

	if cold {
		if out, ok := inst.awaitInit(ctx, requestID); !ok {
			inst.begin(inv)
			inst.platform(out.message)
			inst.platform(out.errorType)
			inst.finish(inv, res, out, inv.start)
			return res, false
		}
		res.InitDuration = inst.readyAt.Sub(inst.started)
	}

	inv.deadline = inst.begin(inv).Add(inst.fn.cfg.Timeout)
	timer := time.NewTimer(inst.fn.cfg.Timeout)
	defer timer.Stop()

	var out outcome
	healthy := true
	select {
	case inst.queue <- inv:
	case <-inst.exited:
		out, healthy = inst.exitOutcome(requestID), false
	case <-timer.C:
		out, healthy = inst.timeoutOutcome(requestID), false
	case <-ctx.Done():
		out, healthy = cancelledOutcome(ctx, requestID), false
	}
	if healthy {
		select {
		case out = <-inv.result:
		case <-inst.exited:
			select {
			case out = <-inv.result: // posted just before exiting
			default:
				out, healthy = inst.exitOutcome(requestID), false
			}
		case <-timer.C:
			out, healthy = inst.timeoutOutcome(requestID), false
		case <-ctx.Done():
			out, healthy = cancelledOutcome(ctx, requestID), false
		}
	}
	end := time.Now()
	if !healthy {
		inst.stop()
		<-inst.exited
		inst.platform(out.message)
		if out.errorType == exitErrorType {
			inst.platform(exitErrorType)
		}
	}
	inst.logs.flush()
	inst.finish(inv, res, out, end)
	// As in Lambda, the invocation is complete once the runtime asks for the next event; a
	// runtime that exits instead (aws-lambda-go does after a panic) is not reused.
	reusable := healthy
	if healthy {
		select {
		case <-inv.nextCalled:
		case <-inst.exited:
			reusable = false
		case <-timer.C:
			reusable = false
		case <-ctx.Done():
			reusable = false
		}
	}
	return res, reusable
}

// awaitInit waits for the runtime's first /next; false means init failed and the instance is dead.
func (inst *instance) awaitInit(ctx context.Context, requestID string) (outcome, bool) {
	timer := time.NewTimer(inst.fn.host.opts.InitTimeout)
	defer timer.Stop()
	var out outcome
	status := "error"
	select {
	case <-inst.ready:
		return outcome{}, true
	case <-inst.exited:
		inst.mu.Lock()
		posted := inst.initErr
		inst.mu.Unlock()
		if posted != nil {
			out = *posted
		} else {
			out = inst.exitOutcome(requestID)
		}
	case <-timer.C:
		status = "timeout"
		secs := inst.fn.host.opts.InitTimeout.Seconds()
		out = outcome{errorType: timeoutErrorType, message: fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", requestID, secs)}
	case <-ctx.Done():
		out = cancelledOutcome(ctx, requestID)
	}
	inst.stop()
	<-inst.exited
	inst.logs.flush()
	initDur := time.Since(inst.started)
	line := fmt.Sprintf("INIT_REPORT Init Duration: %s\tPhase: init\tStatus: %s", ms(initDur), status)
	if status == "error" {
		line += "\tError Type: " + out.errorType
	}
	inst.platform(line)
	if out.payload == nil {
		out.payload = errorPayload(out)
	}
	return out, false
}

// begin makes inv the instance's current invocation, writes its START line and starts its clock.
func (inst *instance) begin(inv *invocation) time.Time {
	inst.logs.flush() // output written so far belongs to init, not to this request
	inst.mu.Lock()
	for _, l := range inst.between {
		inv.tail.add(l)
	}
	inst.between = nil
	inst.current = inv
	inst.mu.Unlock()
	inst.emit(fmt.Sprintf("START RequestId: %s Version: $LATEST", inv.requestID))
	inv.start = time.Now()
	return inv.start
}

// finish writes END and REPORT, fills res and detaches inv from the instance.
func (inst *instance) finish(inv *invocation, res *Result, out outcome, end time.Time) {
	if out.errorType != "" {
		res.FunctionError = "Unhandled"
		res.ErrorType, res.ErrorMessage = out.errorType, out.message
		if out.payload == nil {
			out.payload = errorPayload(out)
		}
	}
	res.Payload = out.payload
	res.Duration = end.Sub(inv.start)
	// provided.al2023 bills init too, rounded up to the millisecond.
	res.BilledDuration = (res.Duration + res.InitDuration + time.Millisecond - 1).Truncate(time.Millisecond)
	res.MaxMemoryUsedMB = peakRSSMB(inst.cmd.Process.Pid)

	report := fmt.Sprintf("REPORT RequestId: %s\tDuration: %s\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB",
		inv.requestID, ms(res.Duration), res.BilledDuration.Milliseconds(), inst.fn.cfg.MemoryMB, res.MaxMemoryUsedMB)
	if res.InitDuration > 0 {
		report += "\tInit Duration: " + ms(res.InitDuration)
	}
	switch out.errorType {
	case "":
	case timeoutErrorType:
		report += "\tStatus: timeout"
	case exitErrorType:
		report += "\tStatus: error\tError Type: " + exitErrorType
	}
	inst.platform("END RequestId: " + inv.requestID)
	inst.platform(report)

	inst.mu.Lock()
	res.Logs = inv.tail.lines
	inst.current = nil
	inst.mu.Unlock()
}

// platform writes a line Lambda itself would write, in order with the function's own output.
func (inst *instance) platform(text string) {
	inst.logs.flush()
	inst.emit(text)
}

// Lambda's own error messages name the request: "RequestId: ID Error: WHAT".
func (inst *instance) exitOutcome(requestID string) outcome {
	reason := "Runtime exited without providing a reason"
	if inst.exitErr != nil {
		reason = "Runtime exited with error: " + inst.exitErr.Error()
	}
	return outcome{errorType: exitErrorType, message: fmt.Sprintf("RequestId: %s Error: %s", requestID, reason)}
}

func (inst *instance) timeoutOutcome(requestID string) outcome {
	return outcome{errorType: timeoutErrorType,
		message: fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", requestID, inst.fn.cfg.Timeout.Seconds())}
}

// cancelledOutcome is the caller giving up; the instance is killed because its state is unknown.
func cancelledOutcome(ctx context.Context, requestID string) outcome {
	return outcome{errorType: cancelledErrorType,
		message: fmt.Sprintf("RequestId: %s Error: invocation abandoned by the caller: %v", requestID, ctx.Err())}
}

// stop kills the process group and the Runtime API server; safe to call more than once.
func (inst *instance) stop() {
	inst.stopOnce.Do(func() {
		close(inst.stopping)
		if p := inst.cmd.Process; p != nil {
			_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		}
		_ = inst.server.Close()
	})
}

// dispose stops the instance and waits until its logs are drained.
func (inst *instance) dispose() {
	inst.stop()
	<-inst.exited
	inst.logs.close()
	inst.fn.host.live.Done()
}

// ms formats a duration the way REPORT lines do.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) + " ms"
}

// peakRSSMB reads the process's peak resident set from /proc; 0 where that is unavailable.
func peakRSSMB(pid int) int {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				return 0
			}
			return (kb + 1023) / 1024
		}
	}
	return 0
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80 // a version 4 UUID, as Lambda's request ids are
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func newTraceID() string {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), h[:24], h[24:40])
}

var errNotCurrent = errors.New("no such invocation in progress")
