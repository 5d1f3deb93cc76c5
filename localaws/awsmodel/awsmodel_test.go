package awsmodel

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func models(t *testing.T) *Models {
	t.Helper()
	m, err := Default()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return m
}

func jsonReq(target, body string) Request {
	return Request{Method: "POST", Path: "/", Header: http.Header{"X-Amz-Target": {target}}, Body: []byte(body)}
}

func queryReq(form url.Values) Request {
	return Request{Method: "POST", Path: "/", Header: http.Header{}, Body: []byte(form.Encode())}
}

// Each case is a request as the SDK sends it and the message AWS gives for it (the member
// paths and constraint words of AWS's validation messages; the constraints from the model).
func TestChecksRequestsAgainstAWSModels(t *testing.T) {
	m := models(t)
	cases := []struct {
		name, service string
		req           Request
		op            string
		want          string // "" for a valid request
	}{
		{"SSM tag value with a comma", "ssm", jsonReq("AmazonSSM.AddTagsToResource",
			`{"ResourceType":"Parameter","ResourceId":"/keyrotor/a","Tags":[{"Key":"keyrotor:owner-user","Value":"a,b"}]}`),
			"AddTagsToResource", `1 validation error detected: Value 'a,b' at 'tags.1.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`},
		{"SSM tag value without one", "ssm", jsonReq("AmazonSSM.AddTagsToResource",
			`{"ResourceType":"Parameter","ResourceId":"/keyrotor/a","Tags":[{"Key":"keyrotor:owner-user","Value":"a.b@c"}]}`), "AddTagsToResource", ""},
		{"SSM PutParameter without a name, value hidden", "ssm", jsonReq("AmazonSSM.PutParameter", `{"Value":"","Type":"Secure"}`),
			"PutParameter", "2 validation errors detected: Value null at 'name' failed to satisfy constraint: Member must not be null; Value 'Secure' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [String, StringList, SecureString]"},
		{"Step Functions alias name, a lookahead pattern", "states", jsonReq("AWSStepFunctions.CreateStateMachineAlias",
			`{"name":"123","routingConfiguration":[{"stateMachineVersionArn":"arn:aws:states:us-east-1:123456789012:stateMachine:m:1","weight":100}]}`),
			"CreateStateMachineAlias", `Value '123' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(?=.*[a-zA-Z_\-\.])[a-zA-Z0-9_\-\.]+$`},
		{"IAM account alias lookahead", "iam", queryReq(url.Values{"Action": {"CreateAccountAlias"}, "AccountAlias": {"a--b"}}),
			"CreateAccountAlias", "Value 'a--b' at 'accountAlias' failed to satisfy constraint: Member must satisfy regular expression pattern"},
		{"IAM user name with a space", "iam", queryReq(url.Values{"Action": {"CreateAccessKey"}, "Version": {"2010-05-08"}, "UserName": {"a b"}}),
			"CreateAccessKey", `1 validation error detected: Value 'a b' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+`},
		{"IAM tags as a query list", "iam", queryReq(url.Values{"Action": {"TagUser"}, "UserName": {"u"}, "Tags.member.1.Key": {"k"}, "Tags.member.1.Value": {strings.Repeat("v", 257)}}),
			"TagUser", "1 validation error detected: Value '" + strings.Repeat("v", 257) + "' at 'tags.1.member.value' failed to satisfy constraint: Member must have length less than or equal to 256"},
		{"STS session name too short", "sts", queryReq(url.Values{"Action": {"AssumeRole"}, "RoleArn": {"arn:aws:iam::123456789012:role/r"}, "RoleSessionName": {"x"}}),
			"AssumeRole", "1 validation error detected: Value 'x' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2"},
		{"KMS encryption context is a map", "kms", jsonReq("TrentService.Encrypt", `{"KeyId":"","Plaintext":"AA=="}`),
			"Encrypt", "1 validation error detected: Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"Step Functions execution name too long", "states", jsonReq("AWSStepFunctions.StartExecution",
			`{"stateMachineArn":"arn:aws:states:us-east-1:123456789012:stateMachine:m","name":"`+strings.Repeat("n", 81)+`"}`),
			"StartExecution", "1 validation error detected: Value '" + strings.Repeat("n", 81) + "' at 'name' failed to satisfy constraint: Member must have length less than or equal to 80"},
		{"Organizations parent id pattern", "organizations", jsonReq("AWSOrganizationsV20161128.ListAccountsForParent", `{"ParentId":"ou-x"}`),
			"ListAccountsForParent", "failed to satisfy constraint: Member must satisfy regular expression pattern"},
		{"Lambda Invoke function name", "lambda", Request{Method: "POST", Path: "/2015-03-31/functions/bad name/invocations", Header: http.Header{"X-Amz-Invocation-Type": {"Sometimes"}}},
			"Invoke", "2 validation errors detected: Value 'bad name' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern"},
		{"S3 PutObject path style", "s3", Request{Method: "PUT", Path: "/bucket/fleet/users.json", Query: url.Values{"x-id": {"PutObject"}}, Header: http.Header{}},
			"PutObject", ""},
		{"S3 GetObject tagging is its own operation", "s3", Request{Method: "GET", Path: "/bucket/k", Query: url.Values{"tagging": {""}}, Header: http.Header{}},
			"GetObjectTagging", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := m.Service(tc.service)
			if s == nil {
				t.Fatalf("no model for %s", tc.service)
			}
			if tc.req.Query == nil {
				tc.req.Query = url.Values{}
			}
			op, in := s.Operation(tc.req)
			if op == nil || op.Name != tc.op {
				t.Fatalf("operation %v, want %s", op, tc.op)
			}
			vs := s.Check(op, in)
			switch {
			case tc.want == "" && len(vs) > 0:
				t.Errorf("refused a valid request: %s", Message(vs))
			case tc.want != "" && len(vs) == 0:
				t.Errorf("accepted; want %q", tc.want)
			case tc.want != "" && !strings.HasPrefix(Message(vs), tc.want) && !strings.Contains(Message(vs), tc.want):
				t.Errorf("message\n%s\nwant\n%s", Message(vs), tc.want)
			}
		})
	}
}

// Refusals take each service's error shape.
func TestRefusalsTakeEachServicesShape(t *testing.T) {
	m := models(t)
	vs := []Violation{{Path: "userName", Value: "a b", Constraint: "Member must satisfy regular expression pattern: [\\w+=,.@-]+"}}
	cases := []struct{ service, code, body string }{
		{"iam", "ValidationError", "<Code>ValidationError</Code><Message>1 validation error detected: Value &#39;a b&#39; at &#39;userName&#39;"},
		{"sts", "ValidationError", "<Type>Sender</Type>"},
		{"ssm", "ValidationException", `"__type":"ValidationException","message":"1 validation error detected`},
		{"organizations", "InvalidInputException", `"Reason":"INVALID_PATTERN"`},
		{"lambda", "ValidationException", `"message":"1 validation error detected`},
		{"s3", "InvalidArgument", "<Error><Code>InvalidArgument</Code>"},
	}
	for _, tc := range cases {
		r := m.Service(tc.service).Refuse(vs, "req-1")
		if r.Status != 400 || r.Code != tc.code || !strings.Contains(string(r.Body), tc.body) {
			t.Errorf("%s: %d %s %s; want 400 %s containing %s", tc.service, r.Status, r.Code, r.Body, tc.code, tc.body)
		}
	}
}

func TestModelsLoadEveryServiceAndNearlyEveryPattern(t *testing.T) {
	m := models(t)
	if n := m.Operations(); n < 500 {
		t.Errorf("%d operations across %v, want hundreds", n, Services)
	}
	total, uncompiled := m.Patterns()
	if len(uncompiled) > 0 {
		t.Errorf("%d of %d patterns do not compile in Go: %v", len(uncompiled), total, uncompiled)
	}
	t.Logf("%d operations, %d patterns, %d not compiled (unchecked): %v", m.Operations(), total, len(uncompiled), uncompiled)
}

func TestDataDirMissingSaysWhatToInstall(t *testing.T) {
	t.Setenv("KEYROTOR_BOTOCORE_DATA", t.TempDir())
	_, err := DataDir()
	if err == nil || !strings.Contains(err.Error(), "KEYROTOR_BOTOCORE_DATA") {
		t.Fatalf("err = %v, want one naming the variable", err)
	}
}
