package consumer_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
	"github.com/keyrotor/keyrotor/localaws/logbuffer"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
	"github.com/keyrotor/keyrotor/ssmcreds"
)

// results sums each language's loops for the line `make test` prints (see TestMain).
var results = &resultTable{langs: map[string]*langResult{}}

type resultTable struct {
	mu    sync.Mutex
	langs map[string]*langResult
}

type langResult struct{ requests, failed, followed, rereads int }

func (r *resultTable) add(lang string, s consumerSummary, followed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.langs[lang]
	if l == nil {
		l = &langResult{}
		r.langs[lang] = l
	}
	l.requests += s.Requests
	l.failed += s.Failed
	l.followed += followed
	l.rereads += max(s.Reads-1, 0)
}

// printResults prints `consumer <lang>: N requests, F failed, R rotations followed, E re-reads`,
// which the Makefile's consumers target greps from the -v output.
func printResults() {
	results.mu.Lock()
	defer results.mu.Unlock()
	for _, lang := range []string{"go", "node", "python"} {
		if l := results.langs[lang]; l != nil {
			fmt.Printf("consumer %s: %d requests, %d failed, %d rotations followed, %d re-reads\n", lang, l.requests, l.failed, l.followed, l.rereads)
		}
	}
}

// startConsumer starts tt's consumer loop signing with f's parameter.
func startConsumer(t *testing.T, tt consumerCase, f *rotationFixture) consumerRun {
	t.Helper()
	if tt.lang == "go" {
		return startGoConsumer(t, tt, f)
	}
	return startProcessConsumer(t, tt, f.param, f.bucket, moto.srv.Endpoint, moto.srv.Admin, "")
}

// goRun is ssmcreds in this process, the loop the package has always run.
type goRun struct {
	reader *countingSSM
	logs   *logbuffer.Buffer
	creds  *aws.CredentialsCache
	mu     sync.Mutex
	s      consumerSummary
	stopCh chan struct{}
	loopProgress
}

// loopProgress is how far a consumer loop has come, in iterations, and whether it has ended:
// progress waits on it.
type loopProgress struct {
	iterations atomic.Int64
	progressed chan struct{} // signalled (without blocking) after each iteration
	ended      chan struct{} // closed when the loop has ended
}

func newLoopProgress() loopProgress {
	return loopProgress{progressed: make(chan struct{}, 1), ended: make(chan struct{})}
}

// signal wakes waitFor after iterations changed.
func (l *loopProgress) signal() {
	select {
	case l.progressed <- struct{}{}:
	default:
	}
}

// waitFor waits until the loop has run n more iterations, failing the test with why() if it
// ends first.
func (l *loopProgress) waitFor(t *testing.T, n int64, why func() string) {
	t.Helper()
	target := l.iterations.Load() + n
	for l.iterations.Load() < target {
		select {
		case <-l.progressed:
		case <-l.ended:
			t.Fatalf("consumer %s after %d iterations", why(), l.iterations.Load())
		}
	}
}

// countingSSM counts the parameter reads the provider makes.
type countingSSM struct {
	*ssm.Client
	n atomic.Int64
}

func (c *countingSSM) GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	c.n.Add(1)
	return c.Client.GetParameter(ctx, in, opts...)
}

func startGoConsumer(t *testing.T, tt consumerCase, f *rotationFixture) consumerRun {
	ctx := context.Background()
	g := &goRun{
		reader: &countingSSM{Client: ssm.NewFromConfig(moto.srv.AdminConfig())}, logs: &logbuffer.Buffer{},
		stopCh: make(chan struct{}), loopProgress: newLoopProgress(),
	}
	g.creds = ssmcreds.New(g.reader, f.param, func(o *ssmcreds.Options) {
		o.Format = ssmcreds.Format(tt.format)
		o.TTL = tt.ttl
		o.Logger = slog.New(slog.NewJSONHandler(g.logs, nil))
	})
	client := s3.NewFromConfig(moto.srv.Config(aws.Credentials{}), func(o *s3.Options) {
		o.UsePathStyle = true
		o.Credentials = g.creds
		o.APIOptions = append(o.APIOptions, ssmcreds.InvalidateOnAuthFailure(g.creds))
	})
	record := func(md middleware.Metadata, err error) {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.s.Requests++
		if err != nil {
			g.s.Failed++
			g.s.Failures = append(g.s.Failures, err.Error())
			return
		}
		results, _ := retry.GetAttemptResults(md)
		g.s.Retries += max(len(results.Results)-1, 0)
		g.s.MaxAttempts = max(g.s.MaxAttempts, len(results.Results))
		for _, r := range results.Results {
			if ssmcreds.IsAuthFailure(r.Err) {
				g.s.AuthFailedAttempts++
			}
		}
	}
	work := func(w int) {
		for i := 0; i < 5000; i++ {
			select {
			case <-g.stopCh:
				return
			default:
			}
			key, body := fmt.Sprintf("signed/%d/%d", w, i), fmt.Sprintf("payload %d/%d", w, i)
			put, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key), Body: strings.NewReader(body)})
			var md middleware.Metadata
			if put != nil {
				md = put.ResultMetadata
			}
			record(md, err)
			got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)})
			md = middleware.Metadata{}
			if got != nil {
				md = got.ResultMetadata
			}
			record(md, err)
			if err == nil {
				b, rerr := io.ReadAll(got.Body)
				got.Body.Close()
				if rerr != nil || string(b) != body {
					g.mu.Lock()
					g.s.Failed++
					g.s.Failures = append(g.s.Failures, fmt.Sprintf("GetObject %s returned %q (%v), want %q", key, b, rerr, body))
					g.mu.Unlock()
				}
			}
			if c, err := g.creds.Retrieve(ctx); err == nil {
				g.mu.Lock()
				if !slices.Contains(g.s.Keys, c.AccessKeyID) {
					g.s.Keys = append(g.s.Keys, c.AccessKeyID)
				}
				g.mu.Unlock()
			}
			g.iterations.Add(1)
			g.signal()
		}
	}
	var workers sync.WaitGroup
	for w := range tt.workers {
		workers.Go(func() { work(w) })
	}
	go func() { workers.Wait(); close(g.ended) }()
	t.Cleanup(func() {
		select {
		case <-g.stopCh:
		default:
			close(g.stopCh)
		}
		<-g.ended
	})
	return g
}

func (g *goRun) progress(t *testing.T, n int64) {
	t.Helper()
	g.waitFor(t, n, func() string { return "stopped" })
}

func (g *goRun) reads() int { return int(g.reader.n.Load()) }

func (g *goRun) stop(t *testing.T) consumerSummary {
	close(g.stopCh)
	<-g.ended
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.s
	s.Reads = g.reads()
	s.Output = g.logs.String()
	return s
}

// processRun is a consumers/node or consumers/python loop in a child process.
type processRun struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *logbuffer.Buffer
	nreads atomic.Int64
	loopProgress
	mu      sync.Mutex
	stdout  strings.Builder
	summary *consumerSummary
}

// trackConsumers keys the test cache on what node and python3 read here: the packages, their
// tests and the example's consumer, and the lockfile their node_modules were installed from.
func trackConsumers(t *testing.T, root string) {
	t.Helper()
	testutil.TrackFiles(t, filepath.Join(root, "consumers"), filepath.Join(root, "infra", "examples", "s3-signer", "consumer-node"),
		filepath.Join(root, "consumers", "node", "node_modules", ".keyrotor-stamp"))
}

// consumerCommand is how a language's loop is run from the repository root.
func consumerCommand(t *testing.T, lang string) (*exec.Cmd, error) {
	t.Helper()
	root, err := deployed.FindRoot(".")
	if err != nil {
		return nil, err
	}
	trackConsumers(t, root)
	switch lang {
	case "node":
		dir := filepath.Join(root, "consumers", "node")
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "@aws-sdk", "client-s3")); err != nil {
			return nil, fmt.Errorf("consumers/node has no dependencies installed: run scripts/install-tools.sh (npm ci from its lockfile): %w", err)
		}
		cmd := exec.Command("node", filepath.Join(dir, "loop.js"))
		cmd.Dir = dir
		return cmd, nil
	case "python":
		dir := filepath.Join(root, "consumers", "python")
		cmd := exec.Command("python3", filepath.Join(dir, "tests", "loop.py"))
		cmd.Dir = dir
		cmd.Env = append(cmd.Env, "PYTHONPATH="+filepath.Join(dir, "src"))
		return cmd, nil
	}
	return nil, fmt.Errorf("no consumer for language %q", lang)
}

// startProcessConsumer runs lang's loop against endpoint with readerCreds as its own role
// (reading the parameter); mode "once" makes one request and ends.
func startProcessConsumer(t *testing.T, tt consumerCase, param, bucket, endpoint string, readerCreds aws.Credentials, mode string) *processRun {
	t.Helper()
	cmd, err := consumerCommand(t, tt.lang)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(cmd.Env,
		"PATH="+os.Getenv("PATH"), "HOME="+t.TempDir(),
		"AWS_ENDPOINT_URL="+endpoint, "AWS_REGION="+motoserver.Region, "AWS_DEFAULT_REGION="+motoserver.Region,
		"AWS_ACCESS_KEY_ID="+readerCreds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+readerCreds.SecretAccessKey,
		"AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull, "AWS_EC2_METADATA_DISABLED=true",
		"KEYROTOR_PARAMETER="+param, "KEYROTOR_FORMAT="+tt.format, "KEYROTOR_BUCKET="+bucket,
		"KEYROTOR_TTL_SECONDS="+strconv.FormatFloat(tt.ttl.Seconds(), 'f', -1, 64),
		"KEYROTOR_WORKERS="+strconv.Itoa(tt.workers), "KEYROTOR_MODE="+mode,
	)
	p := &processRun{cmd: cmd, stderr: &logbuffer.Buffer{}, loopProgress: newLoopProgress()}
	cmd.Stderr = p.stderr
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the %s consumer: %v", tt.lang, err)
	}
	go func() {
		defer close(p.ended)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stdout.WriteString(line + "\n")
			p.mu.Unlock()
			var msg struct {
				Iterations *int64           `json:"iterations"`
				Reads      int64            `json:"reads"`
				Summary    *consumerSummary `json:"summary"`
			}
			if json.Unmarshal([]byte(line), &msg) != nil {
				continue
			}
			if msg.Summary != nil {
				p.mu.Lock()
				p.summary = msg.Summary
				p.mu.Unlock()
			}
			if msg.Iterations != nil {
				p.nreads.Store(msg.Reads)
				p.iterations.Store(*msg.Iterations)
				p.signal()
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		p.stdin.Close()
		select {
		case <-p.ended:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-p.ended
		}
	})
	return p
}

func (p *processRun) progress(t *testing.T, n int64) {
	t.Helper()
	p.waitFor(t, n, func() string { return fmt.Sprintf("process ended (%s: %s)", p.cmd.ProcessState, p.output()) })
}

func (p *processRun) reads() int { return int(p.nreads.Load()) }

func (p *processRun) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String() + p.stderr.String()
}

func (p *processRun) stop(t *testing.T) consumerSummary {
	t.Helper()
	p.stdin.Close()
	select {
	case <-p.ended:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.ended
	}
	p.mu.Lock()
	s := p.summary
	p.mu.Unlock()
	if s == nil || !p.cmd.ProcessState.Success() {
		t.Fatalf("the consumer process ended (%s) without a summary:\n%s", p.cmd.ProcessState, p.output())
	}
	s.Output = p.output()
	return *s
}

// TestConsumerDeniedTheParameterSaysWhichParameterAndPermission gives each consumer a role
// that may not read the parameter: the request fails with an error naming the parameter and
// ssm:GetParameter, and no secret is in anything the consumer wrote.
func TestConsumerDeniedTheParameterSaysWhichParameterAndPermission(t *testing.T) {
	f := newRotationFixture(t, "denied", "json")
	f.rotate(t, 0, "json", func(string) {})
	reader := newUserKey(t, "reader-denied", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}`)
	// moto answers a JSON-protocol service's denial in its query-protocol XML; the proxy
	// rewrites it into the AccessDeniedException AWS sends, which the SDKs decode.
	proxy, err := faultproxy.Start(moto.srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	for _, lang := range []string{"go", "node", "python"} {
		t.Run(lang, func(t *testing.T) {
			var failure, output string
			if lang == "go" {
				cfg := moto.srv.Config(reader)
				cfg.BaseEndpoint = aws.String(proxy.URL)
				creds := ssmcreds.New(ssm.NewFromConfig(cfg), f.param)
				_, err := creds.Retrieve(context.Background())
				if err == nil {
					t.Fatal("the parameter was read with a role that may not read it")
				}
				failure, output = err.Error(), err.Error()
			} else {
				p := startProcessConsumer(t, consumerCase{lang: lang, format: "json", workers: 1, ttl: time.Hour}, f.param, f.bucket, proxy.URL, reader, "once")
				s := p.stop(t)
				if s.Failed != 1 || len(s.Failures) != 1 {
					t.Fatalf("want the one request to fail, got %d failed: %v\n%s", s.Failed, s.Failures, s.Output)
				}
				failure, output = s.Failures[0], s.Output
			}
			t.Logf("%s: %s", lang, failure)
			for _, want := range []string{f.param, "not allowed to read parameter", "ssm:GetParameter", "kms:Decrypt"} {
				if !strings.Contains(failure, want) {
					t.Errorf("the error does not say %q: %s", want, failure)
				}
			}
			for _, s := range f.secrets {
				if strings.Contains(output, s) {
					t.Error("a secret access key appears in the consumer's output")
				}
			}
		})
	}
}

// newUserKey creates a user with one inline policy and returns its access key.
func newUserKey(t *testing.T, user, policy string) aws.Credentials {
	t.Helper()
	creds, err := createUserKey(context.Background(), user, policy)
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

func createUserKey(ctx context.Context, user, policy string) (aws.Credentials, error) {
	iamc := iam.NewFromConfig(moto.srv.AdminConfig())
	if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user)}); err != nil {
		return aws.Credentials{}, err
	}
	if _, err := iamc.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String("only"), PolicyDocument: aws.String(policy)}); err != nil {
		return aws.Credentials{}, err
	}
	key, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		return aws.Credentials{}, err
	}
	if key.AccessKey == nil {
		return aws.Credentials{}, errors.New("CreateAccessKey returned no key")
	}
	return aws.Credentials{AccessKeyID: aws.ToString(key.AccessKey.AccessKeyId), SecretAccessKey: aws.ToString(key.AccessKey.SecretAccessKey)}, nil
}

// TestConsumerPackagesUnitTests runs each package's own tests (node --test and tsc, unittest), which
// cover what a loop against moto cannot reach in seconds: the refresh window on a mocked clock,
// a failed re-read, every malformed value.
func TestConsumerPackagesUnitTests(t *testing.T) {
	root, err := deployed.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		lang string
		dir  string
		cmd  []string
		env  []string
	}{
		{"node", "consumers/node", []string{"node", "--test", "test/"}, nil},
		// The .d.ts against a consumer's TypeScript, strict (nothing is emitted).
		{"node types", "consumers/node", []string{"node", "node_modules/typescript/bin/tsc", "-p", "."}, nil},
		{"python", "consumers/python", []string{"python3", "-m", "unittest", "discover", "-s", "tests"}, []string{"PYTHONPATH=src"}},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			if _, err := consumerCommand(t, strings.Fields(tt.lang)[0]); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(tt.cmd[0], tt.cmd[1:]...)
			cmd.Dir = filepath.Join(root, tt.dir)
			cmd.Env = append(os.Environ(), tt.env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s in %s: %v\n%s", strings.Join(tt.cmd, " "), tt.dir, err, out)
			}
		})
	}
}

// TestConsumersAgreeOnAuthFailureCodes: the Node.js and Python packages re-read the key on the
// same error codes, each of which ssmcreds treats as a refused key too (the list is retyped
// per language, so this test holds the three together).
func TestConsumersAgreeOnAuthFailureCodes(t *testing.T) {
	root, err := deployed.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	trackConsumers(t, root)
	lists := map[string][]string{}
	for lang, args := range map[string][]string{
		"node":   {"node", "-e", `console.log(JSON.stringify([...require("./consumers/node").AUTH_FAILURE_CODES].sort()))`},
		"python": {"python3", "-c", `import json, keyrotor_credentials as k; print(json.dumps(sorted(k.AUTH_FAILURE_CODES)))`},
	} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(root, "consumers", "python", "src"))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		var codes []string
		if err := json.Unmarshal(out, &codes); err != nil {
			t.Fatalf("%s printed %q: %v", lang, out, err)
		}
		lists[lang] = codes
		for _, c := range codes {
			if !ssmcreds.IsAuthFailure(&smithy.GenericAPIError{Code: c}) {
				t.Errorf("%s re-reads on %s, which ssmcreds does not", lang, c)
			}
		}
	}
	if !slices.Equal(lists["node"], lists["python"]) || len(lists["node"]) == 0 {
		t.Errorf("node re-reads on %v, python on %v; want the same codes", lists["node"], lists["python"])
	}
}
