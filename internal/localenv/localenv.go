// Package localenv runs keyrotor's whole engine on one machine: moto as IAM/STS/SSM/KMS (with
// SigV4 and IAM authorization on), the fault proxy in front of it, the real Lambda bootstraps
// under lambdahost with their own roles' credentials, and the Step Functions and Lambda APIs on
// one loopback endpoint running statemachine/rotate.asl.json. `keyrotor local up` and
// `keyrotor demo` start it through Up. What only tests need (changing a role's policy, seeding
// a fleet of users) is the harness's: internal/harness/testenv, and export_test.go here.
package localenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go/logging"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
	"github.com/keyrotor/keyrotor/localaws/lambdahost"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal/sfnapi"
)

// Name is the engine name the local deployment uses, as infra/modules/engine's default:
// functions keyrotor-<fn>, roles keyrotor-<fn>, state machine keyrotor-rotate.
const Name = "keyrotor"

// Region and AccountID are moto's, used in every local ARN.
const (
	Region    = motoserver.Region
	AccountID = motoserver.AccountID
)

// ASLPath is the rotation definition, relative to the repository root.
const ASLPath = "statemachine/rotate.asl.json"

// Options configure Up. The zero value is a usable local engine on the wall clock.
type Options struct {
	// Root is the repository root (holding go.mod, build/, statemachine/, infra/). Empty: found
	// by walking up from the working directory.
	Root string
	// Build compiles build/host/<fn>/bootstrap before deploying. Without it the binaries must
	// exist already (`make build`).
	Build bool
	// PropagationDelay makes every access key created through the proxy fail authentication
	// for this long, as IAM's eventual consistency does (0: valid at once).
	PropagationDelay time.Duration
	// PropagationSeconds is the functions' KEYROTOR_PROPAGATION_SECONDS (0: the default 120).
	PropagationSeconds int
	// Clock is the engine's AWS clock (nil: the wall clock, as `keyrotor local up` keeps). It
	// runs the executions' Waits, retry backoffs, timeouts and history timestamps, and IAM's
	// propagation windows in the proxy (PropagationDelay). With
	// sfnlocal.NewVirtualClock(start) a rotation with the default waits (1 h grace, 1 d
	// inactive) completes in seconds of real time, its history dated as AWS would date it,
	// and one year is still the longest an execution may run. The functions' own clocks stay
	// real: time stands still while a function runs.
	Clock sfnlocal.Clock
	// EngineFloors runs the functions with the engine module's default floors
	// (rotation.DefaultMinGraceSeconds, DefaultMinInactiveSeconds), as a deployed engine does,
	// instead of 0. The functions measure them on the engine's clock (between the execution
	// history's timestamps), so on a virtual Clock a rotation with them takes seconds; on the
	// wall clock its waits take at least their sum, 1.5 h.
	EngineFloors bool
	// LogSink receives every line the functions write and every platform line. Lines are
	// also kept in Env.Logs.
	LogSink func(lambdahost.LogLine)
	// Logger receives the environment's and the Step Functions server's records (nil: discarded).
	Logger *slog.Logger
	// FunctionTimeout is every step function's timeout (0: 60 s, as the engine module sets).
	FunctionTimeout time.Duration
	// CredentialLifetime is how long each function's AssumeRole session lasts (0: 1 h); the
	// functions are redeployed with fresh credentials at three quarters of it.
	CredentialLifetime time.Duration
	// Accounts is how many member accounts to create besides the engine's own (the hub), each
	// with the keyrotor-target role and the member KMS key (accounts.go); 0: one account.
	Accounts int
	// OnCredentials, if set, is told the access key id (never the secret) and expiry of each
	// function's AssumeRole session whenever the function is (re)deployed with one, so that a
	// caller can tell the functions' calls apart in Proxy.Calls.
	OnCredentials func(fn, accessKeyID string, expires time.Time)
}

// Env is a running local engine. Close stops it.
type Env struct {
	// Moto is the moto server; Proxy sits in front of it, and every function and AdminConfig
	// reach AWS through the proxy. Add fault rules or a propagation delay on Proxy.
	Moto  *motoserver.Server
	Proxy *faultproxy.Proxy
	// Lambda hosts the deployed functions (Invoke, redeploy, per-invocation logs).
	Lambda *lambdahost.Host
	// StepFunctions is the Step Functions API server.
	StepFunctions *sfnapi.Server

	// AWSEndpoint is what AWS_ENDPOINT_URL must be: the proxy in front of moto.
	AWSEndpoint string
	// Endpoint serves the Step Functions API (AWS_ENDPOINT_URL_SFN) and the Lambda Invoke API
	// (AWS_ENDPOINT_URL_LAMBDA).
	Endpoint string
	// StateMachineARN is the rotation state machine, created from statemachine/rotate.asl.json.
	StateMachineARN string
	// Definition is the deployed definition, placeholders filled.
	Definition string
	// KMSKeyID and KMSKeyARN are the engine's secrets key.
	KMSKeyID, KMSKeyARN string
	// Engine names every resource as infra/modules/engine does.
	Engine deployed.Engine
	// FunctionARNs maps each function (createkey, …, trigger) to its ARN.
	FunctionARNs map[string]string
	// ParameterPrefix is the functions' KEYROTOR_PARAMETER_PREFIX.
	ParameterPrefix string
	// Members are the member accounts (Options.Accounts), in order.
	Members []Member

	opts     Options
	root     string
	log      *slog.Logger
	http     *http.Server
	home     string
	logs     *logBook
	arnMu    sync.Mutex // FunctionARNs, rewritten by every redeploy
	stop     chan struct{}
	bg       sync.WaitGroup
	closeErr error
	closed   sync.Once
}

// Up starts a local engine. ctx bounds the start only; Close stops it. On error, everything
// started so far is stopped again.
func Up(ctx context.Context, opts Options) (_ *Env, err error) {
	root, err := deployed.FindRoot(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("local engine: %w", err)
	}
	if opts.Build {
		if err := Build(ctx, root); err != nil {
			return nil, err
		}
	} else if err := checkBuilt(root); err != nil {
		return nil, err
	}
	if opts.FunctionTimeout <= 0 {
		opts.FunctionTimeout = 60 * time.Second
	}
	if opts.CredentialLifetime <= 0 {
		opts.CredentialLifetime = time.Hour
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Env{
		opts: opts, root: root, log: log, logs: &logBook{},
		stop:            make(chan struct{}),
		ParameterPrefix: rotation.DefaultParameterPrefix,
		FunctionARNs:    map[string]string{},
	}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	if e.home, err = os.MkdirTemp("", "keyrotor-local-"); err != nil {
		return nil, fmt.Errorf("local engine: temporary directory: %w", err)
	}

	if e.Moto, err = motoserver.Start(ctx, motoserver.Options{Auth: true}); err != nil {
		return nil, fmt.Errorf("local engine: %w", err)
	}
	if e.Proxy, err = faultproxy.Start(e.Moto.Endpoint); err != nil {
		return nil, fmt.Errorf("local engine: fault proxy: %w", err)
	}
	e.Proxy.SetPropagationDelay(opts.PropagationDelay)
	if opts.Clock != nil {
		e.Proxy.SetConsistencyClock(opts.Clock.Now)
	}
	e.AWSEndpoint = e.Proxy.URL
	// A cross-account AssumeRole is decided by the role's trust policy, as on AWS (moto does
	// not): evaluated with iam-simulate when `make tools` has installed it.
	dir := filepath.Join(root, "scripts", "npm", "node_modules", "@cloud-copilot", "iam-simulate")
	if _, statErr := os.Stat(filepath.Join(dir, "package.json")); statErr == nil {
		if err := e.Proxy.EnableTrustPolicies(dir); err != nil {
			return nil, fmt.Errorf("local engine: %w", err)
		}
	} else {
		log.Warn("trust policies of member roles are not evaluated: @cloud-copilot/iam-simulate is not installed (make tools)", "dir", dir)
	}

	// The endpoint's address must be known before the functions are deployed (it is their
	// AWS_ENDPOINT_URL_SFN); it starts serving once everything is in place.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("local engine: listen: %w", err)
	}
	e.Endpoint = "http://" + l.Addr().String()
	// Until the server takes it over (and Close closes it), a failed step closes it here.
	serving := false
	defer func() {
		if !serving {
			l.Close()
		}
	}()

	e.Engine = deployed.Engine{Root: root, Name: Name, Account: deployed.Account{
		Partition: "aws", Region: Region, AccountID: AccountID, ParameterPrefix: e.ParameterPrefix, UserPath: "/",
	}}
	if err := e.createKMSKey(ctx); err != nil {
		return nil, err
	}
	if err := e.createRoles(ctx); err != nil {
		return nil, err
	}
	if err := e.createMembers(ctx, opts.Accounts); err != nil {
		return nil, err
	}
	// moto loads SSM's public parameters on the first SSM call (about a second); take that
	// here rather than in the first rotation's Begin.
	if _, err := ssm.NewFromConfig(e.Moto.AdminConfig()).DescribeParameters(ctx, &ssm.DescribeParametersInput{MaxResults: aws.Int32(1)}); err != nil {
		return nil, fmt.Errorf("local engine: warm up SSM: %w", err)
	}

	e.Lambda = lambdahost.New(lambdahost.Options{Region: Region, AccountID: AccountID, LogSink: e.sinkLine})
	if err := e.deployAll(ctx); err != nil {
		return nil, err
	}

	if err := e.createFleetBucket(ctx); err != nil {
		return nil, err
	}
	e.StepFunctions = sfnapi.New(sfnapi.Options{
		Tasks: sfnlocal.TaskInvokerFunc(e.InvokeTask), Clock: opts.Clock,
		Region: Region, AccountID: AccountID, Logger: log,
		// The fleet Map's ItemReader and ResultWriter: Step Functions reads and writes the
		// fleet bucket (with the fleet role on AWS; locally as moto's administrator).
		Objects: e.fleetObjects(),
	})
	e.http = &http.Server{Handler: e.handler(), ReadHeaderTimeout: 10 * time.Second}
	serving = true
	go func() { _ = e.http.Serve(l) }()

	if err := e.createStateMachine(ctx); err != nil {
		return nil, err
	}
	if err := e.createFleetStateMachine(ctx); err != nil {
		return nil, err
	}
	e.bg.Add(1)
	go e.refreshLoop()
	log.Info("local keyrotor engine up", "awsEndpoint", e.AWSEndpoint, "endpoint", e.Endpoint, "stateMachineArn", e.StateMachineARN)
	return e, nil
}

// Close stops the server, the functions, the proxy and moto, and removes temporary files.
func (e *Env) Close() error {
	e.closed.Do(func() {
		close(e.stop)
		e.bg.Wait()
		if e.StepFunctions != nil {
			e.StepFunctions.Close()
		}
		if e.http != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := e.http.Shutdown(ctx); err != nil {
				_ = e.http.Close()
			}
			cancel()
		}
		if e.Lambda != nil {
			e.closeErr = e.Lambda.Close()
		}
		if e.Proxy != nil {
			e.Proxy.Close()
		}
		if e.Moto != nil {
			e.Moto.Stop()
		}
		if e.home != "" {
			_ = os.RemoveAll(e.home)
		}
	})
	return e.closeErr
}

// Admin are credentials of moto's administrator (a moto-issued key; local only).
func (e *Env) Admin() aws.Credentials { return e.Moto.Admin }

// AdminConfig is an aws.Config for IAM, STS, SSM and KMS as the administrator, through the
// proxy. For Step Functions use SFN (the Lambda API is at Endpoint too).
func (e *Env) AdminConfig() aws.Config { return motoserver.Config(e.AWSEndpoint, e.Moto.Admin) }

// SFN is a Step Functions client of the local endpoint, as the administrator.
func (e *Env) SFN() *sfn.Client {
	return sfn.NewFromConfig(e.AdminConfig(), func(o *sfn.Options) {
		o.BaseEndpoint = aws.String(e.Endpoint)
		// Polling clients may meet the SDK's connection-reuse warning (aws/aws-sdk-go-v2#2737).
		o.Logger = logging.Nop{}
	})
}

// Environ is the environment an SDK, the AWS CLI or the keyrotor CLI needs to work against
// this engine as the administrator, as NAME=value pairs.
func (e *Env) Environ() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + e.AWSEndpoint,
		"AWS_ENDPOINT_URL_SFN=" + e.Endpoint,
		"AWS_ENDPOINT_URL_LAMBDA=" + e.Endpoint,
		"AWS_ACCESS_KEY_ID=" + e.Moto.Admin.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + e.Moto.Admin.SecretAccessKey,
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"KEYROTOR_STATE_MACHINE_ARN=" + e.StateMachineARN,
	}
}

// Logs returns every line the functions wrote so far (secrets of their own credentials
// redacted by the host), oldest first.
func (e *Env) Logs() []lambdahost.LogLine { return e.logs.all() }

func (e *Env) sinkLine(l lambdahost.LogLine) {
	e.logs.add(l)
	if e.opts.LogSink != nil {
		e.opts.LogSink(l)
	}
}

// handler serves the Step Functions API (AWS JSON 1.0, X-Amz-Target AWSStepFunctions.*) and
// the Lambda API (REST paths) on one endpoint.
func (e *Env) handler() http.Handler {
	lambdaAPI := e.Lambda.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "AWSStepFunctions.") {
			e.StepFunctions.ServeHTTP(w, r)
			return
		}
		lambdaAPI.ServeHTTP(w, r)
	})
}

func (e *Env) createKMSKey(ctx context.Context) error {
	policy, err := e.Engine.SecretsKeyPolicy()
	if err != nil {
		return fmt.Errorf("local engine: %w", err)
	}
	doc, err := policy.JSON()
	if err != nil {
		return fmt.Errorf("local engine: secrets key policy: %w", err)
	}
	client := kms.NewFromConfig(e.Moto.AdminConfig())
	out, err := client.CreateKey(ctx, &kms.CreateKeyInput{
		Description: aws.String("keyrotor: seals new secrets and encrypts the SecureString parameters"),
		Policy:      aws.String(string(doc)),
	})
	if err != nil {
		return fmt.Errorf("local engine: create the secrets KMS key: %w", err)
	}
	e.KMSKeyID = aws.ToString(out.KeyMetadata.KeyId)
	e.KMSKeyARN = aws.ToString(out.KeyMetadata.Arn)
	e.Engine.KMSKeyID = e.KMSKeyID
	if _, err := client.CreateAlias(ctx, &kms.CreateAliasInput{
		AliasName: aws.String("alias/" + Name + "-secrets"), TargetKeyId: out.KeyMetadata.KeyId,
	}); err != nil {
		return fmt.Errorf("local engine: alias the secrets KMS key: %w", err)
	}
	return nil
}

// BootstrapPath is where `make build` puts fn's binary for this machine.
func BootstrapPath(root, fn string) string {
	return filepath.Join(root, "build", "host", fn, "bootstrap")
}

// ErrNotBuilt is returned (wrapped) by Up when a bootstrap binary is missing.
var ErrNotBuilt = errors.New("the Lambda bootstraps are not built")

func checkBuilt(root string) error {
	var missing []string
	for _, fn := range deployed.Functions {
		st, err := os.Stat(BootstrapPath(root, fn))
		if err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
			missing = append(missing, filepath.Join("build", "host", fn, "bootstrap"))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("local engine: %w: %s missing; run `make build` in %s first", ErrNotBuilt, strings.Join(missing, ", "), root)
	}
	return nil
}

// Build compiles each function's bootstrap for this machine as scripts/build-functions.sh
// does (build/host/<fn>/bootstrap); the arm64 packages Terraform deploys are `make build`'s.
func Build(ctx context.Context, root string) error {
	for _, fn := range deployed.Functions {
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w",
			"-o", BootstrapPath(root, fn), "./functions/"+fn)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("local engine: build functions/%s: %w\n%s", fn, err, out)
		}
	}
	return nil
}

// logBook keeps the captured lines, bounded so a long `local up` does not grow without end.
type logBook struct {
	mu    sync.Mutex
	lines []lambdahost.LogLine
}

const maxLogLines = 200_000

func (b *logBook) add(l lambdahost.LogLine) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.lines) >= maxLogLines {
		b.lines = append(b.lines[:0], b.lines[len(b.lines)/2:]...)
	}
	b.lines = append(b.lines, l)
}

func (b *logBook) all() []lambdahost.LogLine {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]lambdahost.LogLine(nil), b.lines...)
}
