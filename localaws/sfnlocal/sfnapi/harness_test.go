package sfnapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/keyrotor/keyrotor/localaws/logbuffer"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal/sfnapi"
)

const (
	region  = "us-east-1"
	account = "123456789012"
	roleArn = "arn:aws:iam::123456789012:role/keyrotor-sfn"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func lambdaArn(name string) string {
	return "arn:aws:lambda:" + region + ":" + account + ":function:" + name
}

func machineArn(name string) string {
	return "arn:aws:states:" + region + ":" + account + ":stateMachine:" + name
}

// Definitions used across the tests. Task states call stub Lambdas served by harness.tasks.
var (
	// passDef adds a result to its input.
	passDef = `{"StartAt":"Hello","States":{"Hello":{"Type":"Pass","Result":{"greeting":"hello"},"ResultPath":"$.result","End":true}}}`
	// chainDef passes through Pass, an hour's Wait, a Lambda Task and Pass again.
	chainDef = `{"StartAt":"First","States":{
		"First":{"Type":"Pass","Next":"Hold"},
		"Hold":{"Type":"Wait","Seconds":3600,"Next":"Echo"},
		"Echo":{"Type":"Task","Resource":"` + lambdaArn("echo") + `","Next":"Last"},
		"Last":{"Type":"Pass","End":true}}}`
	// failDef fails in its Lambda with a named error.
	failDef = `{"StartAt":"Verify","States":{"Verify":{"Type":"Task","Resource":"` + lambdaArn("fail") + `","End":true}}}`
	// blockDef runs a Task that only ends when its execution is stopped.
	blockDef = `{"StartAt":"Block","States":{"Block":{"Type":"Task","Resource":"` + lambdaArn("block") + `","End":true}}}`
)

type harness struct {
	srv     *sfnapi.Server
	url     string
	client  *sfn.Client
	clock   *sfnlocal.VirtualClock
	logs    *logbuffer.Buffer
	started chan string // execution ARNs whose block task has begun

	blockedOnce sync.Once
	blocked     chan struct{} // closed when the first block task begins
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{
		clock:   sfnlocal.NewVirtualClock(start),
		logs:    &logbuffer.Buffer{},
		started: make(chan string, 100),
		blocked: make(chan struct{}),
	}
	h.srv = sfnapi.New(sfnapi.Options{
		Tasks:     sfnlocal.TaskInvokerFunc(h.invoke),
		Clock:     h.clock,
		Region:    region,
		AccountID: account,
		Logger:    slog.New(slog.NewJSONHandler(h.logs, nil)),
	})
	hs := httptest.NewServer(h.srv)
	h.url = hs.URL
	t.Cleanup(func() {
		h.srv.Close()
		hs.Close()
	})
	h.client = sfn.New(sfn.Options{
		Region:           region,
		BaseEndpoint:     aws.String(hs.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIAKEYROTORTEST", "test-secret", ""),
		RetryMaxAttempts: 1,
	})
	return h
}

// invoke is the stub Lambda fleet.
func (h *harness) invoke(ctx context.Context, req sfnlocal.TaskRequest) (json.RawMessage, error) {
	switch req.Resource {
	case lambdaArn("echo"):
		return req.Input, nil
	case lambdaArn("fail"):
		return nil, sfnlocal.NewTaskFailure("VerificationFailed", `{"errorType":"VerificationFailed","errorMessage":"the new key belongs to another user"}`)
	case lambdaArn("panic"):
		panic("stub invoker bug")
	case lambdaArn("failonceblocked"):
		select {
		case <-h.blocked:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return nil, sfnlocal.NewTaskFailure("VerificationFailed", "failed once a block task had started")
	case lambdaArn("block"):
		h.blockedOnce.Do(func() { close(h.blocked) })
		h.started <- req.ExecutionArn
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("no stub for %s", req.Resource)
}

func (h *harness) create(t *testing.T, name, definition string) string {
	t.Helper()
	arn, err := h.srv.CreateStateMachine(context.Background(), name, definition, roleArn)
	if err != nil {
		t.Fatalf("CreateStateMachine %s: %v", name, err)
	}
	return arn
}

func (h *harness) wait(t *testing.T, arn string) sfnapi.Execution {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	x, err := h.srv.Wait(ctx, arn)
	if err != nil {
		t.Fatalf("Wait %s: %v", arn, err)
	}
	return x
}

// awaitBlocked returns once the block task of some execution has begun, with its ARN.
func (h *harness) awaitBlocked(t *testing.T) string {
	t.Helper()
	select {
	case arn := <-h.started:
		return arn
	case <-time.After(30 * time.Second):
		t.Fatal("no block task started within 30s")
		return ""
	}
}

// startBlocked starts an execution of a blockDef machine and returns its ARN once its block
// task has begun.
func (h *harness) startBlocked(t *testing.T, machine, name, input string) string {
	t.Helper()
	x, err := h.srv.StartExecution(context.Background(), machine, name, input)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.awaitBlocked(t); got != x {
		t.Fatalf("blocked execution %s, want %s", got, x)
	}
	return x
}

// pager is what the sfn SDK's paginators have in common.
type pager[O any] interface {
	HasMorePages() bool
	NextPage(context.Context, ...func(*sfn.Options)) (O, error)
}

// readPages reads every page of p.
func readPages[O any](t *testing.T, p pager[O]) []O {
	t.Helper()
	var pages []O
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, out)
	}
	return pages
}

// historyPages reads GetExecutionHistory with the sfn SDK's paginator, from in.NextToken on
// when it is set, and returns the event ids page by page.
func (h *harness) historyPages(t *testing.T, in *sfn.GetExecutionHistoryInput) [][]int64 {
	t.Helper()
	var pages [][]int64
	for _, out := range readPages(t, sfn.NewGetExecutionHistoryPaginator(h.client, in)) {
		ids := make([]int64, len(out.Events))
		for i, e := range out.Events {
			ids[i] = e.Id
		}
		pages = append(pages, ids)
	}
	return pages
}

func jsonEqual(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("not JSON: %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want not JSON: %q: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Errorf("JSON differs:\n got %s\nwant %s", gb, wb)
	}
}
