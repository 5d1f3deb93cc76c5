// Package lambdahost runs built Lambda bootstrap binaries (provided.al2023 custom runtime) as
// local child processes behind the Lambda Runtime API, the way Lambda runs them: warm instances
// reused one invocation at a time, extra instances for concurrent invocations up to a limit,
// timeouts that kill the instance, init durations, START/END/REPORT lines and captured logs.
// Handler serves the Lambda Invoke API over the same functions, so SDKs and the AWS CLI can call them.
package lambdahost

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyrotor/keyrotor/localaws/awsmodel"
)

// Function is one deployed function's configuration.
type Function struct {
	Name string
	// Path is the built bootstrap binary; its directory plays LAMBDA_TASK_ROOT.
	Path string
	// Env is the function's own environment. AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN values
	// are redacted from captured logs, as are the values of the keys listed in SecretEnv.
	Env       map[string]string
	SecretEnv []string
	// Timeout defaults to 3 s, MemoryMB to 128 and MaxConcurrency to 10.
	Timeout        time.Duration
	MemoryMB       int
	MaxConcurrency int
	// Handler is reported as _HANDLER; "bootstrap" when empty.
	Handler string
}

// Options configure a Host. Zero values take the defaults noted.
type Options struct {
	Region    string // us-east-1
	AccountID string // 123456789012
	// IdleTimeout is how long an unused instance stays warm (10 min).
	IdleTimeout time.Duration
	// InitTimeout bounds process start to the runtime's first /next (10 s, as in Lambda).
	InitTimeout time.Duration
	// LogSink receives every captured and platform line; see LogTo. Nil discards them.
	LogSink func(LogLine)
	// TailBytes bounds the lines kept per invocation in Result.Logs (64 KiB).
	TailBytes int
}

// Result is one invocation's outcome, as Lambda's Invoke reports it plus its REPORT figures.
type Result struct {
	// Payload is the function's response or, on error, the error document
	// {"errorMessage", "errorType", ...}.
	Payload []byte
	// FunctionError is "Unhandled" when the invocation failed, empty otherwise.
	FunctionError string
	ErrorType     string
	ErrorMessage  string
	RequestID     string
	// ExecutedVersion is always "$LATEST".
	ExecutedVersion string
	// InitDuration is non-zero only on a cold start: process start to the first /next.
	InitDuration time.Duration
	// Duration runs from handing the event to the runtime until its result (or the kill).
	Duration time.Duration
	// BilledDuration is Duration plus InitDuration rounded up to 1 ms (provided.al2023 bills init).
	BilledDuration  time.Duration
	MaxMemoryUsedMB int
	// Logs are the invocation's lines (init output first on a cold start), newest TailBytes kept.
	Logs []string
}

// ErrFunctionNotFound is returned (wrapped) by Invoke for a name no Deploy registered.
var ErrFunctionNotFound = errors.New("function not found")

// errRetired says a deployment was replaced or closed after Invoke looked it up.
var errRetired = errors.New("deployment retired")

// Host runs deployed functions. It is safe for concurrent use.
type Host struct {
	opts   Options
	mu     sync.Mutex
	funcs  map[string]*function
	closed bool
	stop   chan struct{}
	reaped sync.WaitGroup
	live   sync.WaitGroup // one per running instance

	models    *awsmodel.Checker // the Invoke API's requests against Lambda's model (Handler)
	modelsErr error
}

// function is one deployment of a Function and its instances.
type function struct {
	host     *Host
	cfg      Function
	arn      string
	redact   redactor
	tokens   chan struct{} // one per running invocation, MaxConcurrency in all
	mu       sync.Mutex
	idle     []*instance
	busy     map[*instance]bool
	retired  bool
	deployed time.Time
}

// New returns a Host; Close stops it.
func New(opts Options) *Host {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.AccountID == "" {
		opts.AccountID = "123456789012"
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 10 * time.Minute
	}
	if opts.InitTimeout <= 0 {
		opts.InitTimeout = 10 * time.Second
	}
	if opts.TailBytes <= 0 {
		opts.TailBytes = 64 * 1024
	}
	h := &Host{opts: opts, funcs: map[string]*function{}, stop: make(chan struct{})}
	h.reaped.Add(1)
	go h.reapIdle()
	return h
}

// reserved names the environment Lambda sets itself; a function may not override them.
var reserved = []string{
	"_HANDLER", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
	"AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_LOG_GROUP_NAME",
	"AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ",
}

// Deploy registers fn (or replaces it: idle instances stop now, busy ones after their
// invocation) and returns its ARN.
func (h *Host) Deploy(fn Function) (string, error) {
	if !validName(fn.Name) {
		return "", fmt.Errorf("deploy %q: a function name is 1-64 letters, digits, '-' or '_'", fn.Name)
	}
	abs, err := filepath.Abs(fn.Path)
	if err != nil {
		return "", fmt.Errorf("deploy %s: bootstrap path %q: %w", fn.Name, fn.Path, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("deploy %s: bootstrap binary: %w (build it with GOOS=linux go build -tags lambda.norpc -o bootstrap)", fn.Name, err)
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("deploy %s: %s is not an executable file", fn.Name, abs)
	}
	fn.Path = abs
	for k := range fn.Env {
		if slices.Contains(reserved, k) {
			return "", fmt.Errorf("deploy %s: environment variable %s is reserved by Lambda; remove it from Env", fn.Name, k)
		}
	}
	for _, k := range fn.SecretEnv {
		if _, ok := fn.Env[k]; !ok {
			return "", fmt.Errorf("deploy %s: SecretEnv names %s, which Env does not set", fn.Name, k)
		}
	}
	if fn.Timeout <= 0 {
		fn.Timeout = 3 * time.Second
	}
	if fn.MemoryMB <= 0 {
		fn.MemoryMB = 128
	}
	if fn.MaxConcurrency <= 0 {
		fn.MaxConcurrency = 10
	}
	if fn.Handler == "" {
		fn.Handler = "bootstrap"
	}
	fn.Env = maps.Clone(fn.Env)
	fn.SecretEnv = slices.Clone(fn.SecretEnv)

	f := &function{
		host:     h,
		cfg:      fn,
		arn:      h.arnOf(fn.Name),
		tokens:   make(chan struct{}, fn.MaxConcurrency),
		busy:     map[*instance]bool{},
		deployed: time.Now(),
	}
	for _, k := range append(slices.Clone(fn.SecretEnv), "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN") {
		if v := fn.Env[k]; v != "" {
			f.redact = append(f.redact, v)
		}
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return "", errors.New("deploy " + fn.Name + ": host is closed")
	}
	old := h.funcs[fn.Name]
	h.funcs[fn.Name] = f
	h.mu.Unlock()
	if old != nil {
		old.retire(false)
	}
	return f.arn, nil
}

// Invoke runs payload on the function named by nameOrArn (a name, a full or partial ARN,
// optionally qualified with $LATEST) and waits for its result. Function failures are reported
// in the Result; the error is for a missing function, a closed host or a cancelled ctx.
func (h *Host) Invoke(ctx context.Context, nameOrArn string, payload []byte) (*Result, error) {
	for {
		f, err := h.lookup(nameOrArn)
		if err != nil {
			return nil, err
		}
		res, err := f.invoke(ctx, payload)
		if errors.Is(err, errRetired) {
			continue // redeployed meanwhile: run on the new deployment
		}
		return res, err
	}
}

func (f *function) invoke(ctx context.Context, payload []byte) (*Result, error) {
	select {
	case f.tokens <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("invoke %s: waiting for a free instance: %w", f.cfg.Name, ctx.Err())
	}
	defer func() { <-f.tokens }()

	inst, cold, err := f.acquire()
	if err != nil {
		return nil, err
	}
	res, healthy := inst.invoke(ctx, newRequestID(), payload, cold)
	f.release(inst, healthy)
	if ctx.Err() != nil && res.ErrorType == cancelledErrorType {
		return nil, fmt.Errorf("invoke %s (request %s): %w", f.cfg.Name, res.RequestID, ctx.Err())
	}
	return res, nil
}

// Close stops every instance of every function and waits for them.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	funcs := slices.Collect(maps.Values(h.funcs))
	models := h.models
	h.mu.Unlock()
	if models != nil {
		_ = models.WriteTally()
	}
	close(h.stop)
	h.reaped.Wait()
	for _, f := range funcs {
		f.retire(true)
	}
	h.live.Wait()
	return nil
}

// arnOf is the function ARN of name in this host's region and account.
func (h *Host) arnOf(name string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", h.opts.Region, h.opts.AccountID, name)
}

func (h *Host) sink(l LogLine) {
	if h.opts.LogSink != nil {
		h.opts.LogSink(l)
	}
}

// lookup resolves a name, partial ARN (ACCOUNT:function:NAME) or ARN, with an optional
// $LATEST qualifier.
func (h *Host) lookup(nameOrArn string) (*function, error) {
	name := nameOrArn
	if i := strings.LastIndex(name, ":function:"); i >= 0 {
		name = name[i+len(":function:"):]
	}
	name = strings.TrimSuffix(name, ":$LATEST")
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, fmt.Errorf("invoke %s: host is closed", nameOrArn)
	}
	f, ok := h.funcs[name]
	if !ok || (strings.HasPrefix(nameOrArn, "arn:") && !strings.HasPrefix(nameOrArn, f.arn)) {
		return nil, fmt.Errorf("%w: %s", ErrFunctionNotFound, h.arnOf(name))
	}
	return f, nil
}

// acquire takes the most recently used idle instance or starts a new one; the caller holds a token.
func (f *function) acquire() (*instance, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.retired {
		return nil, false, errRetired
	}
	for n := len(f.idle); n > 0; n-- {
		inst := f.idle[n-1]
		f.idle = f.idle[:n-1]
		select {
		case <-inst.exited: // died while idle
			go inst.dispose()
			continue
		default:
		}
		f.busy[inst] = true
		return inst, false, nil
	}
	inst, err := startInstance(f)
	if err != nil {
		return nil, false, fmt.Errorf("invoke %s: %w", f.cfg.Name, err)
	}
	f.host.live.Add(1)
	f.busy[inst] = true
	return inst, true, nil
}

// release keeps a healthy instance warm, unless the function was redeployed or closed meanwhile.
func (f *function) release(inst *instance, healthy bool) {
	f.mu.Lock()
	delete(f.busy, inst)
	if healthy && !f.retired {
		inst.lastUsed = time.Now()
		f.idle = append(f.idle, inst)
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	inst.dispose()
}

// retire stops the idle instances; busy ones are disposed of when released, after being
// killed now when kill is set.
func (f *function) retire(kill bool) {
	f.mu.Lock()
	f.retired = true
	idle := f.idle
	f.idle = nil
	if kill {
		for inst := range f.busy {
			inst.stop()
		}
	}
	f.mu.Unlock()
	for _, inst := range idle {
		inst.dispose()
	}
}

// reapIdle stops instances unused for longer than IdleTimeout.
func (h *Host) reapIdle() {
	defer h.reaped.Done()
	tick := time.NewTicker(max(h.opts.IdleTimeout/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-h.stop:
			return
		case now := <-tick.C:
			h.mu.Lock()
			funcs := slices.Collect(maps.Values(h.funcs))
			h.mu.Unlock()
			for _, f := range funcs {
				var stale []*instance
				f.mu.Lock()
				keep := f.idle[:0]
				for _, inst := range f.idle {
					if now.Sub(inst.lastUsed) >= h.opts.IdleTimeout {
						stale = append(stale, inst)
					} else {
						keep = append(keep, inst)
					}
				}
				f.idle = keep
				f.mu.Unlock()
				for _, inst := range stale {
					inst.dispose()
				}
			}
		}
	}
}

// environ is the process environment: Lambda's standard variables, then the function's own.
func (f *function) environ(runtimeAPI string) []string {
	c := f.cfg
	now := time.Now().UTC()
	env := []string{
		"AWS_LAMBDA_RUNTIME_API=" + runtimeAPI,
		"AWS_LAMBDA_FUNCTION_NAME=" + c.Name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		fmt.Sprintf("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=%d", c.MemoryMB),
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_REGION=" + f.host.opts.Region,
		"AWS_DEFAULT_REGION=" + f.host.opts.Region,
		"_HANDLER=" + c.Handler,
		"LAMBDA_TASK_ROOT=" + filepath.Dir(c.Path),
		"LAMBDA_RUNTIME_DIR=" + filepath.Dir(c.Path),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + c.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME=" + now.Format("2006/01/02") + "/[$LATEST]" + strings.ReplaceAll(newRequestID(), "-", ""),
		"TZ=:UTC",
		"LANG=en_US.UTF-8",
		"PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin",
	}
	for _, k := range slices.Sorted(maps.Keys(c.Env)) {
		env = append(env, k+"="+c.Env[k])
	}
	return env
}

func validName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
