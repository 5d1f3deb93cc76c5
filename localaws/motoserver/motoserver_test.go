package motoserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func TestStartWithAuthVerifiesSignatures(t *testing.T) {
	ctx := context.Background()
	s, err := Start(ctx, Options{Auth: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()

	out, err := sts.NewFromConfig(s.AdminConfig()).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("admin GetCallerIdentity: %v", err)
	}
	if want := "arn:aws:iam::" + AccountID + ":user/" + AdminUserName; aws.ToString(out.Arn) != want {
		t.Errorf("admin ARN = %s, want %s", aws.ToString(out.Arn), want)
	}

	wrong := s.Admin
	wrong.SecretAccessKey = "not-the-secret"
	_, err = sts.NewFromConfig(s.Config(wrong)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	// moto answers 403 with an <Errors> wrapper the Go SDK cannot decode; internal/faultproxy
	// rewrites it into the AWS error shape, so here only the status is checked.
	var respErr *awshttp.ResponseError
	if !errors.As(err, &respErr) || respErr.HTTPStatusCode() != 403 {
		t.Errorf("wrong secret: err = %v, want HTTP 403", err)
	}
}

func TestStartWithoutMotoNamesTheInstallCommand(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Start(context.Background(), Options{})
	if err == nil || !strings.Contains(err.Error(), InstallHint) {
		t.Fatalf("err = %v, want it to name %q", err, InstallHint)
	}
}

// Tools that find moto by its process name (ps, top, CPU accounting) still find it when it
// runs through the launcher.
func TestTheServerGoesByMotoServersName(t *testing.T) {
	s, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/comm")
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if got := strings.TrimSpace(string(comm)); got != "moto_server" {
		t.Errorf("process name %q, want moto_server", got)
	}
}

// Servers started side by side each listen on a socket their own process holds: the endpoint
// a caller gets can never be another server's (the port is bound before moto starts and its
// socket handed over, so there is no moment in which another process could take it).
func TestServersStartedTogetherEachServeTheirOwnEndpoint(t *testing.T) {
	const n = 4
	servers := make([]*Server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i], errs[i] = Start(context.Background(), Options{})
		}()
	}
	wg.Wait()
	for i, s := range servers {
		if errs[i] != nil {
			t.Fatalf("server %d: %v", i, errs[i])
		}
		defer s.Stop()
	}
	for _, s := range servers {
		port, err := strconv.Atoi(s.Endpoint[strings.LastIndex(s.Endpoint, ":")+1:])
		if err != nil {
			t.Fatalf("endpoint %s: %v", s.Endpoint, err)
		}
		inode, err := listeningInode(port)
		if err != nil {
			t.Skipf("no /proc/net/tcp here: %v", err)
		}
		if !holdsSocket(t, s.cmd.Process.Pid, inode) {
			t.Errorf("%s: the listening socket (inode %s) is not held by moto_server pid %d", s.Endpoint, inode, s.cmd.Process.Pid)
		}
	}
}

// listeningInode finds the socket inode listening on 127.0.0.1:port in /proc/net/tcp
// (columns: sl local_address rem_address st ... inode; state 0A is LISTEN).
func listeningInode(port int) (string, error) {
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return "", err
	}
	local := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && f[1] == local && f[3] == "0A" {
			return f[9], nil
		}
	}
	return "", fmt.Errorf("nothing listens on %s", local)
}

func holdsSocket(t *testing.T, pid int, inode string) bool {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	for _, e := range entries {
		if link, err := os.Readlink(dir + "/" + e.Name()); err == nil && link == "socket:["+inode+"]" {
			return true
		}
	}
	return false
}

// moto keeps a connection open across requests, as AWS's endpoints do, whatever part of a body
// moto reads; a request that asks to close still closes.
func TestConnectionsAreKeptAliveAcrossRequests(t *testing.T) {
	ctx := context.Background()
	s, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()

	var dials atomic.Int32
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	send := func(method, path, body string, close bool) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, s.Endpoint+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Close = close
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatalf("%s %s: read the answer: %v", method, path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %s", method, path, resp.Status)
		}
		return resp
	}

	identity := "Action=GetCallerIdentity&Version=2011-06-15"
	for range 3 {
		if resp := send(http.MethodPost, "/", identity, false); resp.Close {
			t.Fatalf("moto answered a keep-alive request with Connection: close")
		}
		// moto's dashboard reads no body: what it leaves must not be taken for the next request.
		send(http.MethodGet, "/moto-api/", "a body the dashboard does not read", false)
	}
	if got := dials.Load(); got != 1 {
		t.Errorf("six requests took %d connections, want 1", got)
	}
	if resp := send(http.MethodPost, "/", identity, true); !resp.Close {
		t.Errorf("a request with Connection: close was answered without it")
	}
}

// Program finds the AWS CLI that pip installed with moto, and the path it gives runs it.
func TestProgramFindsTheAWSCLI(t *testing.T) {
	bin, err := Program("aws")
	if err != nil {
		t.Skipf("no AWS CLI on PATH: %v", err)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "aws-cli/") {
		t.Fatalf("%s --version: %v: %s", bin, err, out)
	}
	if _, err := Program("no-such-program-keyrotor"); err == nil {
		t.Error("Program found a program that does not exist")
	}
}

// closingBody is a request body that, like the SDK's, cannot be read once its owner closed it.
type closingBody struct {
	r      *strings.Reader
	closed atomic.Bool
}

func (b *closingBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, errors.New("read after close")
	}
	return b.r.Read(p)
}

func (b *closingBody) Close() error { b.closed.Store(true); return nil }

// The transport under Config's client gets a body of its own, in memory: what it reads after
// the SDK has closed the SDK's body (as the SDK does when the answer's headers arrive) is the
// whole request, and it is written in one flush with the headers.
func TestConfigsClientSendsRequestBodiesFromMemory(t *testing.T) {
	const payload = "Action=CreateAccessKey&UserName=u&Version=2010-05-08"
	sdkBody := &closingBody{r: strings.NewReader(payload)}
	var sent string
	var inMemory bool
	transport := roundTripper(func(req *http.Request) (*http.Response, error) {
		sdkBody.Close()
		_, inMemory = req.Body.(interface {
			WriteTo(io.Writer) (int64, error)
		})
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		sent = string(b)
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
	})
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", sdkBody)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(payload))
	resp, err := (bufferedBodies{transport}).RoundTrip(req)
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	resp.Body.Close()
	if sent != payload {
		t.Errorf("the transport read %q, want %q", sent, payload)
	}
	if !inMemory {
		t.Errorf("the transport's body is not an in-memory reader")
	}
	if client.Transport.(bufferedBodies).next != http.DefaultTransport {
		t.Errorf("Config's client does not send through bufferedBodies")
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
