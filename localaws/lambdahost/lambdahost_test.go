package lambdahost_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/localaws/lambdahost"
)

// bins holds the test Lambdas from internal/testfuncs/, built once as Lambda builds them.
var bins = map[string]string{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lambdahost-bins")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	names := []string{"echo", "namederror", "sleeper", "crasher", "initfail"}
	args := []string{"build", "-tags", "lambda.norpc", "-o", dir + string(os.PathSeparator)}
	for _, n := range names {
		args = append(args, "./internal/testfuncs/"+n)
		bins[n] = filepath.Join(dir, n)
	}
	build := exec.Command("go", args...)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build test Lambdas: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func newHost(t *testing.T, opts lambdahost.Options) (*lambdahost.Host, *lambdahost.Recorder) {
	t.Helper()
	rec := &lambdahost.Recorder{}
	if opts.LogSink == nil {
		opts.LogSink = rec.Add
	}
	h := lambdahost.New(opts)
	t.Cleanup(func() { _ = h.Close() })
	return h, rec
}

func deploy(t *testing.T, h *lambdahost.Host, fn lambdahost.Function) string {
	t.Helper()
	if fn.Path == "" {
		fn.Path = bins[fn.Name]
	}
	arn, err := h.Deploy(fn)
	if err != nil {
		t.Fatal(err)
	}
	return arn
}

func invoke(t *testing.T, h *lambdahost.Host, name, payload string) *lambdahost.Result {
	t.Helper()
	res, err := h.Invoke(context.Background(), name, []byte(payload))
	if err != nil {
		t.Fatalf("invoke %s: %v", name, err)
	}
	return res
}

type echoAnswer struct {
	Message   string `json:"message"`
	PID       int    `json:"pid"`
	RequestID string `json:"requestId"`
	Function  string `json:"function"`
	TZ        string `json:"tz"`
}

func echoed(t *testing.T, res *lambdahost.Result) echoAnswer {
	t.Helper()
	var a echoAnswer
	if res.FunctionError != "" || json.Unmarshal(res.Payload, &a) != nil {
		t.Fatalf("echo failed: %s %s: %s\nlogs:\n%s", res.ErrorType, res.ErrorMessage, res.Payload, strings.Join(res.Logs, "\n"))
	}
	return a
}

func pidOf(t *testing.T, res *lambdahost.Result) int {
	t.Helper()
	var pid int
	if res.FunctionError != "" || json.Unmarshal(res.Payload, &pid) != nil {
		t.Fatalf("want a pid, got %s %s: %s\nlogs:\n%s", res.ErrorType, res.ErrorMessage, res.Payload, strings.Join(res.Logs, "\n"))
	}
	return pid
}

// processGone reports whether pid no longer exists, waiting for the host to reap it.
func processGone(pid int) bool {
	for range 1000 {
		if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func TestWarmInstanceServesSequentialInvocationsWithInitDurationOnlyOnColdStart(t *testing.T) {
	h, _ := newHost(t, lambdahost.Options{})
	arn := deploy(t, h, lambdahost.Function{Name: "echo"})
	if arn != "arn:aws:lambda:us-east-1:123456789012:function:echo" {
		t.Errorf("arn = %s", arn)
	}

	var pid int
	for i, ref := range []string{"echo", arn, "123456789012:function:echo", "echo:$LATEST"} {
		res := invoke(t, h, ref, fmt.Sprintf(`{"message":"hello %d"}`, i))
		a := echoed(t, res)
		if a.Message != fmt.Sprintf("hello %d", i) || a.RequestID != res.RequestID || a.Function != "echo" || a.TZ != ":UTC" {
			t.Errorf("invoke %d answered %+v (request %s)", i, a, res.RequestID)
		}
		if i == 0 {
			pid = a.PID
			if res.InitDuration <= 0 {
				t.Errorf("cold start reported no init duration")
			}
			t.Logf("echo cold start: init duration %v, duration %v, billed %v, max memory %d MB",
				res.InitDuration, res.Duration, res.BilledDuration, res.MaxMemoryUsedMB)
			continue
		}
		if a.PID != pid {
			t.Errorf("invoke %d ran in pid %d, want the warm instance %d", i, a.PID, pid)
		}
		if res.InitDuration != 0 {
			t.Errorf("warm invoke %d reported init duration %v", i, res.InitDuration)
		}
	}
}

func TestConcurrentInvocationsStartInstancesUpToTheLimit(t *testing.T) {
	h, _ := newHost(t, lambdahost.Options{})
	deploy(t, h, lambdahost.Function{Name: "sleeper", MaxConcurrency: 2, Timeout: 30 * time.Second})

	// Two invocations that can only finish together prove two instances run at once.
	barrier := t.TempDir()
	pids := invokeParallel(t, h, 2, fmt.Sprintf(`{"Barrier":%q,"Parties":2}`, barrier))
	if len(pids) != 2 {
		t.Errorf("barrier invocations ran in %d instances, want 2", len(pids))
	}

	pids = invokeParallel(t, h, 8, `{"SleepMS":50}`)
	if len(pids) > 2 {
		t.Errorf("8 parallel invocations ran in %d instances, want at most MaxConcurrency 2", len(pids))
	}
}

// invokeParallel runs n invocations at once; all must succeed. It returns the distinct pids.
func invokeParallel(t *testing.T, h *lambdahost.Host, n int, payload string) map[int]bool {
	t.Helper()
	results := make(chan *lambdahost.Result, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			res, err := h.Invoke(context.Background(), "sleeper", []byte(payload))
			if err != nil {
				errs <- err
				return
			}
			results <- res
		})
	}
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	pids := map[int]bool{}
	for res := range results {
		pids[pidOf(t, res)] = true
	}
	return pids
}

func TestTimeoutKillsTheInstanceAndTheNextInvocationStartsCold(t *testing.T) {
	h, rec := newHost(t, lambdahost.Options{})
	deploy(t, h, lambdahost.Function{Name: "sleeper", Timeout: time.Second})
	warm := pidOf(t, invoke(t, h, "sleeper", `{"SleepMS":1}`))

	res := invoke(t, h, "sleeper", `{"SleepMS":60000}`)
	if res.FunctionError != "Unhandled" || res.ErrorType != "Sandbox.Timedout" {
		t.Fatalf("got %q %q, want Unhandled Sandbox.Timedout", res.FunctionError, res.ErrorType)
	}
	wantMsg := fmt.Sprintf("RequestId: %s Error: Task timed out after 1.00 seconds", res.RequestID)
	var doc struct{ ErrorType, ErrorMessage string }
	if err := json.Unmarshal(res.Payload, &doc); err != nil || doc.ErrorType != "Sandbox.Timedout" || doc.ErrorMessage != wantMsg {
		t.Errorf("payload %s, want the Sandbox.Timedout document with %q", res.Payload, wantMsg)
	}
	if res.Duration < time.Second {
		t.Errorf("timed out after %v, before the 1 s timeout", res.Duration)
	}
	if !processGone(warm) {
		t.Errorf("timed-out instance (pid %d) is still running", warm)
	}
	report := strings.Join(rec.ForRequest(res.RequestID), "\n")
	if !strings.Contains(report, wantMsg) || !strings.Contains(report, "Status: timeout") {
		t.Errorf("logs of the timed-out request lack the timeout lines:\n%s", report)
	}

	next := invoke(t, h, "sleeper", `{"SleepMS":1}`)
	if pid := pidOf(t, next); pid == warm || next.InitDuration == 0 {
		t.Errorf("after a timeout: pid %d (was %d), init duration %v; want a cold start", pid, warm, next.InitDuration)
	}
}

func TestCrashMidInvocationIsRuntimeExitErrorAndTheNextInvocationStartsCold(t *testing.T) {
	h, _ := newHost(t, lambdahost.Options{})
	deploy(t, h, lambdahost.Function{Name: "crasher"})
	first := pidOf(t, invoke(t, h, "crasher", `{"Crash":false}`))

	res := invoke(t, h, "crasher", `{"Crash":true}`)
	if res.FunctionError != "Unhandled" || res.ErrorType != "Runtime.ExitError" ||
		res.ErrorMessage != fmt.Sprintf("RequestId: %s Error: Runtime exited with error: exit status 3", res.RequestID) {
		t.Fatalf("crash gave %q %q %q", res.FunctionError, res.ErrorType, res.ErrorMessage)
	}
	logs := strings.Join(res.Logs, "\n")
	for _, want := range []string{"crashing now", "Runtime.ExitError", "Status: error\tError Type: Runtime.ExitError"} {
		if !strings.Contains(logs, want) {
			t.Errorf("crash logs lack %q:\n%s", want, logs)
		}
	}

	next := invoke(t, h, "crasher", `{"Crash":false}`)
	if pid := pidOf(t, next); pid == first || next.InitDuration == 0 {
		t.Errorf("after a crash: pid %d (was %d), init duration %v; want a cold start", pid, first, next.InitDuration)
	}
}

func TestNamedErrorIsReturnedAndTheInstanceStaysWarm(t *testing.T) {
	h, _ := newHost(t, lambdahost.Options{})
	deploy(t, h, lambdahost.Function{Name: "namederror"})
	for i := range 2 {
		res := invoke(t, h, "namederror", `{}`)
		var doc struct{ ErrorType, ErrorMessage string }
		if err := json.Unmarshal(res.Payload, &doc); err != nil || doc.ErrorType != "TooManyActiveKeys" {
			t.Errorf("payload %s, want the function's error document", res.Payload)
		}
		if res.FunctionError != "Unhandled" || res.ErrorType != "TooManyActiveKeys" || res.ErrorMessage != "user signer already has two active keys" {
			t.Errorf("invoke %d: %q %q %q", i, res.FunctionError, res.ErrorType, res.ErrorMessage)
		}
		if cold := res.InitDuration > 0; cold != (i == 0) {
			t.Errorf("invoke %d cold = %v; a handled error must keep the instance warm", i, cold)
		}
	}
}

func TestInitFailuresAreReportedWithTheirType(t *testing.T) {
	tests := []struct {
		name, wantType, wantMessage, wantStatus string
		env                                     map[string]string
	}{
		{"process exits before asking for an event", "Runtime.ExitError", "Runtime exited with error: exit status 1",
			"Status: error\tError Type: Runtime.ExitError", nil},
		{"runtime posts init/error", "ConfigError", "configuration missing",
			"Status: error\tError Type: ConfigError", map[string]string{"INITFAIL_POST": "1"}},
		{"init outlasts InitTimeout", "Sandbox.Timedout", "Task timed out after 0.20 seconds",
			"Status: timeout", map[string]string{"INITFAIL_HANG": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := newHost(t, lambdahost.Options{InitTimeout: 200 * time.Millisecond})
			deploy(t, h, lambdahost.Function{Name: "initfail", Env: tt.env})
			for range 2 { // every invocation retries init, as Lambda does
				res := invoke(t, h, "initfail", `{}`)
				if res.FunctionError != "Unhandled" || res.ErrorType != tt.wantType || !strings.Contains(res.ErrorMessage, tt.wantMessage) {
					t.Errorf("got %q %q %q, want %s containing %q", res.FunctionError, res.ErrorType, res.ErrorMessage, tt.wantType, tt.wantMessage)
				}
				logs := strings.Join(res.Logs, "\n")
				for _, want := range []string{"initfail: configuration missing", "INIT_REPORT Init Duration:", "Phase: init\t" + tt.wantStatus} {
					if !strings.Contains(logs, want) {
						t.Errorf("logs lack %q:\n%s", want, logs)
					}
				}
			}
		})
	}
}

func TestLogsAreTaggedWithRequestIDsAndCarryPlatformLines(t *testing.T) {
	h, rec := newHost(t, lambdahost.Options{})
	deploy(t, h, lambdahost.Function{Name: "echo", MemoryMB: 256})
	cold := invoke(t, h, "echo", `{"message":"one"}`)
	warm := invoke(t, h, "echo", `{"message":"two"}`)

	if init := rec.ForRequest(""); len(init) == 0 || init[0] != "echo init" {
		t.Errorf("init output not captured untagged: %q", init)
	}
	for _, tc := range []struct {
		res     *lambdahost.Result
		message string
		cold    bool
	}{{cold, "one", true}, {warm, "two", false}} {
		id := tc.res.RequestID
		lines := rec.ForRequest(id)
		joined := strings.Join(lines, "\n")
		if len(lines) < 5 || lines[0] != "START RequestId: "+id+" Version: $LATEST" ||
			lines[len(lines)-2] != "END RequestId: "+id || !strings.HasPrefix(lines[len(lines)-1], "REPORT RequestId: "+id+"\tDuration: ") {
			t.Errorf("request %s lines are not START, output, END, REPORT:\n%s", id, joined)
		}
		if !strings.Contains(joined, fmt.Sprintf("echo got %q", tc.message)) {
			t.Errorf("request %s lacks its own output:\n%s", id, joined)
		}
		report := lines[len(lines)-1]
		for _, want := range []string{"\tBilled Duration: ", " ms\tMemory Size: 256 MB\tMax Memory Used: "} {
			if !strings.Contains(report, want) {
				t.Errorf("REPORT lacks %q: %s", want, report)
			}
		}
		if strings.Contains(report, "Init Duration") != tc.cold {
			t.Errorf("REPORT Init Duration present = %v, want %v: %s", !tc.cold, tc.cold, report)
		}
		if tc.res.BilledDuration < tc.res.Duration+tc.res.InitDuration || tc.res.BilledDuration%time.Millisecond != 0 {
			t.Errorf("billed %v for duration %v + init %v", tc.res.BilledDuration, tc.res.Duration, tc.res.InitDuration)
		}
		tail := strings.Join(tc.res.Logs, "\n")
		if !strings.Contains(tail, "START RequestId: "+id) || !strings.Contains(tail, "REPORT RequestId: "+id) || strings.Contains(tail, "echo init") != tc.cold {
			t.Errorf("Result.Logs of request %s:\n%s", id, tail)
		}
	}
}

func TestTailIsBoundedToTheNewestLines(t *testing.T) {
	h, _ := newHost(t, lambdahost.Options{TailBytes: 200})
	deploy(t, h, lambdahost.Function{Name: "echo"})
	res := invoke(t, h, "echo", fmt.Sprintf(`{"message":%q}`, strings.Repeat("x", 500)))
	if n := len(strings.Join(res.Logs, "\n")); len(res.Logs) == 0 || !strings.HasPrefix(res.Logs[len(res.Logs)-1], "REPORT") || (len(res.Logs) > 1 && n > 200) {
		t.Errorf("tail of %d bytes in %d lines, want the newest lines within 200 bytes: %q", n, len(res.Logs), res.Logs)
	}
}

func TestSecretEnvironmentValuesNeverReachLogs(t *testing.T) {
	secretKey := "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY1"
	token := "tok-5f1e2d3c4b5a69788796a5b4c3d2e1f0"
	h, rec := newHost(t, lambdahost.Options{})
	deploy(t, h, lambdahost.Function{Name: "echo", SecretEnv: []string{"API_TOKEN"}, Env: map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": secretKey, "API_TOKEN": token, "PLAIN": "visible-value",
	}})
	var tails []string
	for _, name := range []string{"AWS_SECRET_ACCESS_KEY", "API_TOKEN", "PLAIN"} {
		res := invoke(t, h, "echo", fmt.Sprintf(`{"message":"env","printEnv":%q}`, name))
		echoed(t, res)
		tails = append(tails, res.Logs...)
	}
	captured := rec.String() + strings.Join(tails, "\n")
	for _, want := range []string{"AWS_SECRET_ACCESS_KEY=****", "API_TOKEN=****", "PLAIN=visible-value"} {
		if !strings.Contains(captured, want) {
			t.Errorf("logs lack %q (the function printed it)", want)
		}
	}
	for _, secret := range []string{secretKey, token} {
		if strings.Contains(captured, secret) {
			t.Errorf("a secret environment value reached the captured logs")
		}
	}
}

func TestIdleInstancesAreReapedAndTheNextInvocationStartsCold(t *testing.T) {
	h, _ := newHost(t, lambdahost.Options{IdleTimeout: 50 * time.Millisecond})
	deploy(t, h, lambdahost.Function{Name: "echo"})
	first := echoed(t, invoke(t, h, "echo", `{}`)).PID
	if !processGone(first) {
		t.Fatalf("idle instance %d was not reaped", first)
	}
	res := invoke(t, h, "echo", `{}`)
	if a := echoed(t, res); a.PID == first || res.InitDuration == 0 {
		t.Errorf("after reaping: pid %d (was %d), init %v; want a cold start", a.PID, first, res.InitDuration)
	}
}

func TestRedeployReplacesInstances(t *testing.T) {
	h, _ := newHost(t, lambdahost.Options{})
	deploy(t, h, lambdahost.Function{Name: "echo"})
	first := echoed(t, invoke(t, h, "echo", `{}`)).PID
	deploy(t, h, lambdahost.Function{Name: "echo", Env: map[string]string{"VERSION": "2"}})
	if !processGone(first) {
		t.Errorf("instance %d of the replaced deployment still runs", first)
	}
	if a := echoed(t, invoke(t, h, "echo", `{}`)); a.PID == first {
		t.Errorf("redeployed function still served by pid %d", first)
	}
}

func TestCloseStopsAllInstances(t *testing.T) {
	h := lambdahost.New(lambdahost.Options{})
	deploy(t, h, lambdahost.Function{Name: "echo"})
	pid := echoed(t, invoke(t, h, "echo", `{}`)).PID
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if !processGone(pid) {
		t.Errorf("instance %d survived Close", pid)
	}
	if _, err := h.Invoke(context.Background(), "echo", []byte(`{}`)); err == nil {
		t.Errorf("Invoke after Close succeeded")
	}
}

func TestBadDeploymentsAndUnknownFunctionsGetClearErrors(t *testing.T) {
	h, _ := newHost(t, lambdahost.Options{})
	tests := []struct {
		name string
		fn   lambdahost.Function
		want string
	}{
		{"missing binary", lambdahost.Function{Name: "gone", Path: filepath.Join(t.TempDir(), "bootstrap")}, "build it with"},
		{"bad name", lambdahost.Function{Name: "no/slash", Path: bins["echo"]}, "a function name is"},
		{"reserved env", lambdahost.Function{Name: "echo", Path: bins["echo"], Env: map[string]string{"AWS_REGION": "x"}}, "reserved by Lambda"},
		{"secret not in env", lambdahost.Function{Name: "echo", Path: bins["echo"], SecretEnv: []string{"NOPE"}}, "SecretEnv names NOPE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := h.Deploy(tt.fn); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Deploy error %v, want one containing %q", err, tt.want)
			}
		})
	}
	_, err := h.Invoke(context.Background(), "nope", []byte(`{}`))
	if !errors.Is(err, lambdahost.ErrFunctionNotFound) || !strings.Contains(err.Error(), "function:nope") {
		t.Errorf("Invoke of an unknown function: %v", err)
	}
}

func TestCallerCancellationAbandonsTheInvocationAndItsInstance(t *testing.T) {
	h, _ := newHost(t, lambdahost.Options{})
	deploy(t, h, lambdahost.Function{Name: "sleeper", Timeout: time.Minute})
	warm := pidOf(t, invoke(t, h, "sleeper", `{"SleepMS":1}`))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := h.Invoke(ctx, "sleeper", []byte(`{"SleepMS":60000}`)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Invoke with an expired context: %v, want context.DeadlineExceeded", err)
	}
	if !processGone(warm) {
		t.Errorf("abandoned instance %d still runs", warm)
	}
	if next := invoke(t, h, "sleeper", `{"SleepMS":1}`); next.InitDuration == 0 {
		t.Errorf("invocation after an abandoned one was not a cold start")
	}
}

func TestLogToWritesOneJSONRecordPerLine(t *testing.T) {
	var buf strings.Builder
	h := lambdahost.New(lambdahost.Options{LogSink: lambdahost.LogTo(slog.New(slog.NewJSONHandler(&buf, nil)))})
	t.Cleanup(func() { _ = h.Close() })
	deploy(t, h, lambdahost.Function{Name: "echo"})
	res := invoke(t, h, "echo", `{"message":"to a logger"}`)
	var records []struct{ Msg, Function, RequestID string }
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var r struct{ Msg, Function, RequestID string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not a JSON record: %q", line)
		}
		records = append(records, r)
	}
	want := map[string]string{"echo init": "", `echo got "to a logger"`: res.RequestID, "END RequestId: " + res.RequestID: res.RequestID}
	for _, r := range records {
		if id, ok := want[r.Msg]; ok && r.Function == "echo" && r.RequestID == id {
			delete(want, r.Msg)
		}
	}
	if len(want) > 0 {
		t.Errorf("records lack %v:\n%s", want, buf.String())
	}
}

func TestPanicReportsItsErrorAndTheNextInvocationStartsCold(t *testing.T) {
	h, _ := newHost(t, lambdahost.Options{})
	deploy(t, h, lambdahost.Function{Name: "crasher"})
	first := pidOf(t, invoke(t, h, "crasher", `{}`))
	res := invoke(t, h, "crasher", `{"Panic":true}`)
	if res.FunctionError != "Unhandled" || res.ErrorType != "string" || res.ErrorMessage != "keyrotor test panic" {
		t.Fatalf("panic gave %q %q %q, want the error aws-lambda-go posted", res.FunctionError, res.ErrorType, res.ErrorMessage)
	}
	next := invoke(t, h, "crasher", `{}`)
	if pid := pidOf(t, next); pid == first || next.InitDuration == 0 {
		t.Errorf("after a panic: pid %d (was %d), init duration %v; want a cold start", pid, first, next.InitDuration)
	}
}
