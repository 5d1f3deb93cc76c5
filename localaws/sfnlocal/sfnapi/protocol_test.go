package sfnapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The wire protocol: the target header is required, errors carry __type and message with the
// status AWS uses, and responses are application/x-amz-json-1.0.
func TestProtocol(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name, method, target, body string
		status                     int
		errType, message           string
	}{
		{"no target header", "POST", "", `{}`, 400, "UnknownOperationException", "X-Amz-Target"},
		{"target of another service", "POST", "AmazonSSM.GetParameter", `{}`, 400, "UnknownOperationException", "AWSStepFunctions.<Operation>"},
		{"unsupported operation", "POST", "AWSStepFunctions.CreateActivity", `{}`, 400, "UnknownOperationException", "ListExecutions"},
		{"GET", "GET", "AWSStepFunctions.ListStateMachines", ``, 400, "UnknownOperationException", "POST"},
		{"body that is not JSON", "POST", "AWSStepFunctions.ListStateMachines", `{`, 400, "SerializationException", "JSON"},
		{"missing required member", "POST", "AWSStepFunctions.DescribeExecution", `{}`, 400, "ValidationException", "executionArn"},
		{"maxResults above 1000", "POST", "AWSStepFunctions.ListStateMachines", `{"maxResults":1001}`, 400, "ValidationException", "maxResults"},
		{"empty body lists", "POST", "AWSStepFunctions.ListStateMachines", ``, 200, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, h.url, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-amz-json-1.0")
			if tc.target != "" {
				req.Header.Set("X-Amz-Target", tc.target)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.0" {
				t.Errorf("Content-Type %q", ct)
			}
			if resp.Header.Get("x-amzn-RequestId") == "" {
				t.Error("no x-amzn-RequestId header")
			}
			var got struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if got.Type != tc.errType || !strings.Contains(got.Message, tc.message) {
				t.Errorf("body %s, want __type %q and a message with %q", body, tc.errType, tc.message)
			}
		})
	}
}

// Responses carry definitions as written: no HTML escaping of <, > and &.
func TestResponsesAreNotHTMLEscaped(t *testing.T) {
	h := newHarness(t)
	def := `{"Comment":"keys <rotated> & verified","StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`
	arn := h.create(t, "escaping", def)
	req, _ := http.NewRequest("POST", h.url, strings.NewReader(`{"stateMachineArn":"`+arn+`"}`))
	req.Header.Set("X-Amz-Target", "AWSStepFunctions.DescribeStateMachine")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `keys <rotated> & verified`) {
		t.Errorf("definition escaped in %s", body)
	}
}
