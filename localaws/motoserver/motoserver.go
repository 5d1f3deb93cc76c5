// Package motoserver runs a moto server (AWS IAM, STS, SSM, KMS, Step Functions) on a free
// loopback port for tests, and builds aws.Config values that talk to it.
package motoserver

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// InstallHint is what to run when moto_server is missing.
const InstallHint = "pip install 'moto[server]==5.2.1'"

// Region and AccountID are moto's defaults; every ARN it returns uses them.
const (
	Region    = "us-east-1"
	AccountID = "123456789012"
)

// Options configures Start.
type Options struct {
	// Auth turns on moto's SigV4 verification and IAM policy evaluation. Start then creates an
	// administrator user (name AdminUserName) whose key is returned in Server.Admin; every other
	// request must be signed with a key moto issued.
	Auth bool
}

// AdminUserName is the user Start creates when Options.Auth is set.
const AdminUserName = "keyrotor-test-admin"

// Server is a running moto_server process.
type Server struct {
	// Endpoint is the base URL, e.g. http://127.0.0.1:41234.
	Endpoint string
	// Admin are credentials allowed to do everything: a real moto key when Options.Auth is
	// set, otherwise static test credentials (moto accepts any when auth is off).
	Admin aws.Credentials

	cmd    *exec.Cmd
	output *lockedWriter
	done   chan struct{}
	once   sync.Once
}

// Start runs moto_server (launch.py) on 127.0.0.1 and a free port and waits until it answers.
// The port is bound here and its listening socket handed to moto, so no other process can take
// it between choosing and binding (tests start many servers at once).
func Start(ctx context.Context, opts Options) (*Server, error) {
	moto, err := interpreter()
	if err != nil {
		return nil, err
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bind a loopback port for moto_server: %w", err)
	}
	port := listener.Addr().(*net.TCPAddr).Port
	socket, err := listener.(*net.TCPListener).File()
	// The socket is moto's alone once it has started: if moto dies, callers are refused at once
	// instead of waiting in the backlog of a socket this process still holds.
	listener.Close()
	if err != nil {
		return nil, fmt.Errorf("hand the listening socket to moto_server: %w", err)
	}
	defer socket.Close()
	// ExtraFiles[0] is descriptor 3 in the child.
	cmd := exec.Command(moto.executable, "-c", launcher, "--listen-fd", "3", "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.ExtraFiles = []*os.File{socket}
	cmd.Env = os.Environ()
	if opts.Auth {
		// The first three actions (create admin user, its policy, its key) run unauthenticated.
		cmd.Env = append(cmd.Env, "INITIAL_NO_AUTH_ACTION_COUNT=3")
	}
	// moto logs request lines only; kept to explain a failed start.
	out := &lockedWriter{w: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Start()
	socket.Close()
	if err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	s := &Server{
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		Admin:    aws.Credentials{AccessKeyID: "AKIAKEYROTORTEST", SecretAccessKey: "test", Source: "motoserver"},
		cmd:      cmd,
		output:   out,
		done:     make(chan struct{}),
	}
	go func() { _ = cmd.Wait(); close(s.done) }()
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	if opts.Auth {
		if err := s.bootstrapAdmin(ctx); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// launcher is moto_server's own entry point with lookups whose answers cannot change memoized (launch.py
// says which and why); it runs on the Python interpreter that moto_server runs on.
//
//go:embed launch.py
var launcher string

// findMoto prints the interpreter's path and its console scripts' directory if it can import
// moto, and fails if not.
const findMoto = `import importlib.util, sys, sysconfig
if importlib.util.find_spec("moto") is None:
    sys.exit(1)
print(sys.executable)
print(sysconfig.get_path("scripts"))`

// motoPython is the Python that imports moto (moto_server's own) and the directory where pip
// put its console scripts (moto_server, and the AWS CLI scripts/install-tools.sh installs with
// moto).
type motoPython struct{ executable, scripts string }

// interpreters remembers motoPython per PATH. Starting it directly also skips a version
// manager's shim, which costs more than Python's start.
var interpreters sync.Map

func interpreter() (motoPython, error) {
	path := os.Getenv("PATH")
	if found, ok := interpreters.Load(path); ok {
		return found.(motoPython), nil
	}
	if _, err := exec.LookPath("moto_server"); err != nil {
		return motoPython{}, fmt.Errorf("moto_server is not on PATH; install it with: %s", InstallHint)
	}
	for _, python := range []string{"python3", "python"} {
		// find_spec locates moto without importing it: an import of moto.server costs about
		// half a CPU-second, paid once per test process.
		out, err := exec.Command(python, "-c", findMoto).Output()
		if executable, scripts, ok := strings.Cut(strings.TrimSpace(string(out)), "\n"); err == nil && ok {
			found := motoPython{executable: strings.TrimSpace(executable), scripts: strings.TrimSpace(scripts)}
			interpreters.Store(path, found)
			return found, nil
		}
	}
	return motoPython{}, fmt.Errorf("moto_server is on PATH but no python3 on PATH imports moto; install it with: %s", InstallHint)
}

// Program returns the path of the console script name (the AWS CLI's aws) that pip installed
// beside moto, in moto's Python's scripts directory, or name as found on PATH when that Python
// has none. Started from there it skips a version manager's shim: pyenv's runs about fifteen
// shell processes, 0.27 CPU-s, before every call (aws --version, 3 runs each).
func Program(name string) (string, error) {
	onPath, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	moto, err := interpreter()
	if err != nil {
		return onPath, nil
	}
	p := filepath.Join(moto.scripts, name)
	if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
		return p, nil
	}
	return onPath, nil
}

// Stop ends the moto_server process; safe to call more than once.
func (s *Server) Stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
	})
}

// Config returns an aws.Config for the server signed with creds.
func (s *Server) Config(creds aws.Credentials) aws.Config {
	return Config(s.Endpoint, creds)
}

// AdminConfig returns an aws.Config for the server signed with the admin credentials.
func (s *Server) AdminConfig() aws.Config { return s.Config(s.Admin) }

// Config returns an aws.Config whose every service client uses endpoint as its base endpoint
// (the same thing AWS_ENDPOINT_URL does) and the given static credentials.
func Config(endpoint string, creds aws.Credentials) aws.Config {
	return aws.Config{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken),
		HTTPClient:   client,
	}
}

// client is the HTTP client of every Config. It hands Go's transport each request body read
// into memory. The SDK closes its request body as soon as the answer's headers arrive, while
// the transport may still be finishing the request's write; when that races, the transport
// closes the connection under the answer being read ("use of closed network connection",
// aws/aws-sdk-go-v2 issue #2737), and the SDK's standard retryer resends the call (PR #2949),
// so a create is done twice. A body in memory is written with its headers in one flush, and the
// transport never reads the SDK's body after the answer. moto answers at once on a kept-alive
// connection (launch.py), which made the race frequent under load: 7 of 27 runs of 4,800 IAM
// creates beside two busy cores lost an answer with the SDK's own client, 0 of 8 with this one.
var client = &http.Client{Timeout: 30 * time.Second, Transport: bufferedBodies{http.DefaultTransport}}

type bufferedBodies struct{ next http.RoundTripper }

func (b bufferedBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	// A body of unknown length is a stream, sent as it comes.
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength < 0 {
		return b.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read the request body: %w", err)
	}
	buffered := req.Clone(req.Context())
	buffered.Body = io.NopCloser(bytes.NewReader(body))
	buffered.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return b.next.RoundTrip(buffered)
}

// Reset empties every service of the server, as a new one starts (moto's POST /moto-api/reset:
// moto/moto_api/_internal/urls.py).
func (s *Server) Reset(ctx context.Context) error { return s.motoAPI(ctx, "reset", "") }

// ResetAuth lets the next n requests through without authorization, as
// INITIAL_NO_AUTH_ACTION_COUNT does at start (moto's POST /moto-api/reset-auth).
func (s *Server) ResetAuth(ctx context.Context, n int) error {
	return s.motoAPI(ctx, "reset-auth", strconv.Itoa(n))
}

// motoAPI posts body to moto's own API at /moto-api/<path>.
func (s *Server) motoAPI(ctx context.Context, path, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint+"/moto-api/"+path, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("moto %s: %w", path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("moto %s at %s: %w", path, s.Endpoint, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("moto %s at %s: %s", path, s.Endpoint, resp.Status)
	}
	return nil
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/moto-api/", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("moto_server exited before it was ready: %s", s.output.String())
		case <-ctx.Done():
			return fmt.Errorf("moto_server at %s not ready: %w", s.Endpoint, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *Server) bootstrapAdmin(ctx context.Context) error {
	client := iam.NewFromConfig(s.AdminConfig())
	if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(AdminUserName)}); err != nil {
		return fmt.Errorf("create moto admin user: %w", err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	if _, err := client.PutUserPolicy(ctx, &iam.PutUserPolicyInput{
		UserName: aws.String(AdminUserName), PolicyName: aws.String("admin"), PolicyDocument: aws.String(policy),
	}); err != nil {
		return fmt.Errorf("attach moto admin policy: %w", err)
	}
	key, err := client.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(AdminUserName)})
	if err != nil {
		return fmt.Errorf("create moto admin key: %w", err)
	}
	s.Admin = aws.Credentials{
		AccessKeyID: aws.ToString(key.AccessKey.AccessKeyId), SecretAccessKey: aws.ToString(key.AccessKey.SecretAccessKey),
		Source: "motoserver",
	}
	return nil
}

// lockedWriter lets stdout and stderr of the process share one buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
