package lambdahost_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyrotor/keyrotor/localaws/lambdahost"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

func serve(t *testing.T, fns ...lambdahost.Function) (*httptest.Server, *lambdahost.Recorder) {
	t.Helper()
	h, rec := newHost(t, lambdahost.Options{})
	for _, fn := range fns {
		deploy(t, h, fn)
	}
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	return srv, rec
}

func post(t *testing.T, url, body string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	// Any signature is accepted, as from an SDK with dummy credentials.
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestInvokeAPIAnswersLikeLambda(t *testing.T) {
	srv, _ := serve(t, lambdahost.Function{Name: "echo"}, lambdahost.Function{Name: "namederror"})
	invokeURL := func(name string) string { return srv.URL + "/2015-03-31/functions/" + name + "/invocations" }

	tests := []struct {
		name, function, body string
		header               map[string]string
		wantStatus           int
		wantHeader           map[string]string
		wantBody             string
	}{
		{name: "request-response returns the payload", function: "echo", body: `{"message":"hi"}`,
			wantStatus: 200, wantHeader: map[string]string{"X-Amz-Executed-Version": "$LATEST", "X-Amz-Function-Error": ""}, wantBody: `"message":"hi"`},
		{name: "function error sets X-Amz-Function-Error", function: "namederror", body: `{}`,
			wantStatus: 200, wantHeader: map[string]string{"X-Amz-Function-Error": "Unhandled"}, wantBody: `"errorType":"TooManyActiveKeys"`},
		{name: "unknown function is ResourceNotFoundException", function: "nope", body: `{}`,
			wantStatus: 404, wantHeader: map[string]string{"X-Amzn-Errortype": "ResourceNotFoundException"},
			wantBody: `"message":"Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope"`},
		{name: "invalid JSON is rejected", function: "echo", body: `{not json`,
			wantStatus: 400, wantHeader: map[string]string{"X-Amzn-Errortype": "InvalidRequestContentException"}},
		{name: "empty payload reaches the function as {}", function: "echo", body: ``,
			wantStatus: 200, wantBody: `"message":""`},
		{name: "dry run checks the function only", function: "echo", body: `{}`, header: map[string]string{"X-Amz-Invocation-Type": "DryRun"},
			wantStatus: 204},
		{name: "event invocation is accepted", function: "echo", body: `{}`, header: map[string]string{"X-Amz-Invocation-Type": "Event"},
			wantStatus: 202},
		{name: "function ARN as the name", function: "arn:aws:lambda:us-east-1:123456789012:function:echo", body: `{"message":"arn"}`,
			wantStatus: 200, wantBody: `"message":"arn"`},
		// Lambda's API model: FunctionName's pattern, InvocationType's enum (awsmodel).
		{name: "a name breaking Lambda's model is ValidationException", function: "bad%20name", body: `{}`,
			wantStatus: 400, wantHeader: map[string]string{"X-Amzn-Errortype": "ValidationException"},
			wantBody: `1 validation error detected: Value 'bad name' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern`},
		{name: "an invocation type outside the model's enum is ValidationException", function: "echo", body: `{}`, header: map[string]string{"X-Amz-Invocation-Type": "Sometimes"},
			wantStatus: 400, wantHeader: map[string]string{"X-Amzn-Errortype": "ValidationException"},
			wantBody: `Value 'Sometimes' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, invokeURL(tt.function), tt.body, tt.header)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if !bytes.Contains(body, []byte(tt.wantBody)) {
				t.Errorf("body %s lacks %s", body, tt.wantBody)
			}
		})
	}
}

func TestInvokeAPILogTailIsTheLast4KBOfTheInvocationLogs(t *testing.T) {
	srv, _ := serve(t, lambdahost.Function{Name: "echo"})
	url := srv.URL + "/2015-03-31/functions/echo/invocations"
	resp, _ := post(t, url, `{"message":"tail me"}`, map[string]string{"X-Amz-Log-Type": "Tail"})
	logs, err := base64.StdEncoding.DecodeString(resp.Header.Get("X-Amz-Log-Result"))
	if err != nil || !bytes.Contains(logs, []byte(`echo got "tail me"`)) || !bytes.Contains(logs, []byte("REPORT RequestId: "+resp.Header.Get("X-Amzn-Requestid"))) {
		t.Errorf("log tail %q (err %v) lacks the output and REPORT of request %s", logs, err, resp.Header.Get("X-Amzn-Requestid"))
	}

	resp, _ = post(t, url, fmt.Sprintf(`{"message":%q}`, strings.Repeat("y", 3000)), map[string]string{"X-Amz-Log-Type": "Tail"})
	logs, _ = base64.StdEncoding.DecodeString(resp.Header.Get("X-Amz-Log-Result"))
	if len(logs) != 4096 || !bytes.HasSuffix(bytes.TrimSpace(logs), []byte("MB")) {
		t.Errorf("log tail of a long invocation is %d bytes ending %q, want the last 4096 ending with REPORT", len(logs), logs[max(0, len(logs)-40):])
	}
	if resp, _ := post(t, url, `{}`, nil); resp.Header.Get("X-Amz-Log-Result") != "" {
		t.Errorf("log tail sent without X-Amz-Log-Type: Tail")
	}
}

func TestGetFunctionAndListFunctionsDescribeWithoutEnvironment(t *testing.T) {
	srv, _ := serve(t,
		lambdahost.Function{Name: "echo", Env: map[string]string{"AWS_SECRET_ACCESS_KEY": "very-secret-value"}},
		lambdahost.Function{Name: "crasher", MemoryMB: 512})
	resp, err := http.Get(srv.URL + "/2015-03-31/functions/echo")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var got struct {
		Configuration struct{ FunctionName, FunctionArn, Runtime string }
	}
	if err := json.Unmarshal(body, &got); err != nil || got.Configuration.FunctionArn != "arn:aws:lambda:us-east-1:123456789012:function:echo" ||
		got.Configuration.Runtime != "provided.al2023" {
		t.Errorf("GetFunction: %s", body)
	}
	if bytes.Contains(body, []byte("very-secret-value")) {
		t.Errorf("GetFunction exposes an environment value")
	}

	resp, err = http.Get(srv.URL + "/2015-03-31/functions/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var list struct {
		Functions []struct{ FunctionName string }
	}
	if err := json.Unmarshal(body, &list); err != nil || len(list.Functions) != 2 || list.Functions[0].FunctionName != "crasher" {
		t.Errorf("ListFunctions: %s", body)
	}
}

// TestAWSCLIInvokesThroughTheEndpoint drives Handler with the real AWS CLI. v1 sends --payload as
// raw bytes and rejects --cli-binary-format; v2 needs that flag to do the same.
func TestAWSCLIInvokesThroughTheEndpoint(t *testing.T) {
	bin, err := motoserver.Program("aws")
	if err != nil {
		t.Skip("aws CLI not installed; skipping the awscli invoke check")
	}
	srv, _ := serve(t, lambdahost.Function{Name: "echo"}, lambdahost.Function{Name: "namederror"})
	dir := t.TempDir()
	env := []string{"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	version, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("aws --version: %v\n%s", err, version)
	}
	aws := func(args ...string) ([]byte, error) {
		if bytes.HasPrefix(version, []byte("aws-cli/2")) && args[1] == "invoke" {
			args = append(args, "--cli-binary-format", "raw-in-base64-out")
		}
		cmd := exec.Command(bin, append([]string{"--endpoint-url", srv.URL, "--region", "us-east-1", "--output", "json"}, args...)...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return append(out, stderr.Bytes()...), err
		}
		return out, nil
	}

	outFile := filepath.Join(dir, "out.json")
	stdout, err := aws("lambda", "invoke", "--function-name", "echo",
		"--payload", `{"message":"from the cli"}`, "--log-type", "Tail", outFile)
	if err != nil {
		t.Fatalf("aws lambda invoke: %v\n%s", err, stdout)
	}
	var meta struct {
		StatusCode      int
		ExecutedVersion string
		LogResult       string
		FunctionError   string
	}
	if err := json.Unmarshal(stdout, &meta); err != nil || meta.StatusCode != 200 || meta.ExecutedVersion != "$LATEST" || meta.FunctionError != "" {
		t.Errorf("invoke output: %s", stdout)
	}
	if logs, _ := base64.StdEncoding.DecodeString(meta.LogResult); !bytes.Contains(logs, []byte(`echo got "from the cli"`)) {
		t.Errorf("LogResult %q lacks the function's output", logs)
	}
	answer, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	var a echoAnswer
	if err := json.Unmarshal(answer, &a); err != nil || a.Message != "from the cli" || a.Function != "echo" {
		t.Errorf("out.json = %s", answer)
	}

	stdout, err = aws("lambda", "invoke", "--function-name", "namederror",
		"--payload", `{}`, outFile)
	if err != nil || !bytes.Contains(stdout, []byte(`"FunctionError": "Unhandled"`)) {
		t.Errorf("invoke of a failing function: %v\n%s", err, stdout)
	}

	stdout, err = aws("lambda", "invoke", "--function-name", "nope", "--payload", `{}`, outFile)
	if err == nil || !bytes.Contains(stdout, []byte("ResourceNotFoundException")) || !bytes.Contains(stdout, []byte("Function not found")) {
		t.Errorf("invoke of an unknown function: %v\n%s", err, stdout)
	}

	stdout, err = aws("lambda", "list-functions")
	if err != nil || !bytes.Contains(stdout, []byte(`"FunctionName": "echo"`)) {
		t.Errorf("aws lambda list-functions: %v\n%s", err, stdout)
	}
}
