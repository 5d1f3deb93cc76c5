package deployed

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func testEngine(t *testing.T) Engine {
	t.Helper()
	root, err := FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return Engine{Root: root, Name: "keyrotor", Account: Account{Partition: "aws", Region: "eu-west-1", AccountID: "111122223333",
		ParameterPrefix: "/keyrotor/", UserPath: "/", KMSKeyID: "1234abcd-12ab-34cd-56ef-1234567890ab"}}
}

func TestFunctionPoliciesRenderToDocumentsWithNamedStatements(t *testing.T) {
	e := testEngine(t)
	for _, fn := range Functions {
		t.Run(fn, func(t *testing.T) {
			doc, err := e.FunctionPolicy(fn)
			if err != nil {
				t.Fatal(err)
			}
			if doc.Version != "2012-10-17" || len(doc.Statement) == 0 {
				t.Fatalf("unexpected document %+v", doc)
			}
			for _, s := range doc.Statement {
				if s.Sid == "" || s.Effect != "Allow" || len(s.Action) == 0 || len(s.Resource) == 0 {
					t.Errorf("statement %+v: every statement needs a Sid, Allow, actions and resources", s)
				}
				for _, r := range s.Resource {
					if r == "*" && slices.Equal(s.Action, StringList{"iam:ListUsers"}) {
						continue // iam:ListUsers has no resource type: IAM authorizes it on "*" only
					}
					if strings.Contains(r, "${") || r == "*" {
						t.Errorf("statement %s resource %q is unrendered or a wildcard", s.Sid, r)
					}
				}
			}
		})
	}
}

// Each reader gets one statement per parameter it reads, bound to that parameter's ARN by the
// encryption context SSM sends (PARAMETER_ARN): no reader may decrypt another's parameter.
func TestSecretsKeyPolicyLetsEachReaderDecryptOnlyItsParameters(t *testing.T) {
	e := testEngine(t)
	a, b := "arn:aws:iam::111122223333:role/a", "arn:aws:iam::111122223333:role/b"
	tests := []struct {
		name    string
		readers map[string][]string
		want    map[string]string // sid -> "principal parameterARN"
	}{
		{"no readers", nil, map[string]string{}},
		{"one reader, one parameter", map[string][]string{a: {"/keyrotor/s3-signer"}},
			map[string]string{"ConsumerReadsItsParameter0": a + " " + e.ParameterARN("/keyrotor/s3-signer")}},
		{"two readers", map[string][]string{b: {"/keyrotor/b1", "/keyrotor/b2"}, a: {"/keyrotor/a"}},
			map[string]string{
				"ConsumerReadsItsParameter0": a + " " + e.ParameterARN("/keyrotor/a"),
				"ConsumerReadsItsParameter1": b + " " + e.ParameterARN("/keyrotor/b1"),
				"ConsumerReadsItsParameter2": b + " " + e.ParameterARN("/keyrotor/b2"),
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.Readers = tt.readers
			doc, err := e.SecretsKeyPolicy()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, s := range doc.Statement {
				if !strings.HasPrefix(s.Sid, "ConsumerReadsItsParameter") {
					continue
				}
				ctx := s.Condition["StringEquals"]["kms:EncryptionContext:PARAMETER_ARN"]
				if len(ctx) != 1 || len(s.Condition["StringLike"]) != 0 || !slices.Equal(s.Action, StringList{"kms:Decrypt"}) {
					t.Errorf("%s: condition %v, action %v; want kms:Decrypt for exactly one PARAMETER_ARN", s.Sid, s.Condition, s.Action)
					continue
				}
				var p struct{ AWS string }
				if err := json.Unmarshal(s.Principal, &p); err != nil {
					t.Fatalf("%s: principal %s: %v", s.Sid, s.Principal, err)
				}
				got[s.Sid] = p.AWS + " " + ctx[0]
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("reader statements %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSecretsKeyPolicyGrantsEncryptAndDecryptOnlyToEngineRoles(t *testing.T) {
	e := testEngine(t)
	doc, err := e.SecretsKeyPolicy()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range doc.Statement {
		uses := slices.ContainsFunc(s.Action, func(a string) bool {
			return a == "kms:*" || strings.HasPrefix(a, "kms:Encrypt") || strings.HasPrefix(a, "kms:Decrypt") ||
				strings.HasPrefix(a, "kms:GenerateDataKey") || strings.HasPrefix(a, "kms:ReEncrypt") || strings.HasPrefix(a, "kms:CreateGrant")
		})
		root := strings.Contains(string(s.Principal), ":root")
		if uses && root {
			t.Errorf("statement %s lets the account root use the key for data", s.Sid)
		}
	}
}

func TestRenderFileRejectsMissingVariables(t *testing.T) {
	e := testEngine(t)
	vars := e.FunctionPolicyVars("createkey")
	delete(vars, "kms_key_arn")
	_, err := RenderFile(filepath.Join(e.PolicyDir(), "createkey.json.tftpl"), vars)
	if err == nil || !strings.Contains(err.Error(), "kms_key_arn") {
		t.Fatalf("want an error naming kms_key_arn, got %v", err)
	}
}

func TestRenderFileEvaluatesTerraformFunctions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.tftpl")
	src := `${jsonencode(flatten([for a in arns : [a, "${a}:*"]]))}%{ if length(arns) > 1 } many%{ endif }`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := RenderFile(path, Vars{"arns": []string{"x", "y"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `["x","x:*","y","y:*"] many`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestEngineNamesMatchTheModule(t *testing.T) {
	e := testEngine(t)
	tests := map[string]string{
		e.RoleARN("createkey"):        "arn:aws:iam::111122223333:role/keyrotor-createkey",
		e.StateMachineARN():           "arn:aws:states:eu-west-1:111122223333:stateMachine:keyrotor-rotate",
		e.ParameterARN("/keyrotor/a"): "arn:aws:ssm:eu-west-1:111122223333:parameter/keyrotor/a",
		e.LogGroupARN("trigger"):      "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/keyrotor-trigger",
		e.UserARN("s3-signer"):        "arn:aws:iam::111122223333:user/s3-signer",
	}
	for got, want := range tests {
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

func TestAllowedActionsListWhatEachFunctionMayCall(t *testing.T) {
	e := testEngine(t)
	tests := map[string][]string{
		"verifykey": {"kms:Decrypt", "logs:CreateLogStream", "logs:PutLogEvents", "ssm:GetParameter", "ssm:PutParameter"},
		"listusers": {"iam:ListUserTags", "iam:ListUsers", "logs:CreateLogStream", "logs:PutLogEvents", "s3:GetObject", "s3:PutObject", "states:DescribeExecution", "states:GetExecutionHistory"},
		"trigger": {"iam:DeleteAccessKey", "iam:GetUser", "iam:ListAccessKeys", "iam:ListUserTags", "logs:CreateLogStream", "logs:PutLogEvents",
			"ssm:DeleteParameter", "ssm:GetParameter", "ssm:GetParameterHistory", "ssm:ListTagsForResource", "states:DescribeExecution", "states:GetExecutionHistory", "states:StartExecution", "states:StopExecution"},
	}
	for fn, want := range tests {
		doc, err := e.FunctionPolicy(fn)
		if err != nil {
			t.Fatal(err)
		}
		if got := doc.AllowedActions(); !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", fn, got, want)
		}
	}
}

func TestFleetPolicyMayOnlyListUsersAndRunTheRotationMachine(t *testing.T) {
	e := testEngine(t)
	doc, err := e.FleetPolicy()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		sid      string
		actions  []string
		resource string
	}{
		{"ListManagedUsers", []string{"lambda:InvokeFunction"}, "arn:aws:lambda:eu-west-1:111122223333:function:keyrotor-listusers"},
		{"StartRotations", []string{"states:StartExecution"}, "arn:aws:states:eu-west-1:111122223333:stateMachine:keyrotor-rotate"},
		// The Distributed Map's own needs (https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html).
		{"RunMapRunChildren", []string{"states:StartExecution"}, "arn:aws:states:eu-west-1:111122223333:stateMachine:keyrotor-rotate-fleet"},
		{"FollowMapRunChildren", []string{"states:DescribeExecution", "states:StopExecution"}, "arn:aws:states:eu-west-1:111122223333:execution:keyrotor-rotate-fleet/*"},
		{"ReadUsersWriteReport", []string{"s3:GetObject", "s3:PutObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"}, "arn:aws:s3:::keyrotor-fleet-111122223333-eu-west-1/fleet/*"},
	}
	for _, tt := range tests {
		s, ok := doc.StatementBySid(tt.sid)
		if !ok {
			t.Errorf("fleet policy has no statement %s", tt.sid)
			continue
		}
		if !slices.Equal([]string(s.Action), tt.actions) || s.Resource[0] != tt.resource {
			t.Errorf("statement %s grants %v on %v, want %v on %s first", tt.sid, s.Action, s.Resource, tt.actions, tt.resource)
		}
	}
	if e.FleetStateMachineARN() != "arn:aws:states:eu-west-1:111122223333:stateMachine:keyrotor-rotate-fleet" {
		t.Errorf("fleet state machine ARN %s", e.FleetStateMachineARN())
	}
}
