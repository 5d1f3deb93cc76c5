package deployed

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

func testMember(t *testing.T) Member {
	t.Helper()
	root, err := FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return Member{Root: root, HubAccountID: "111122223333", EngineName: "keyrotor", ExternalID: "keyrotor-org-7f3a9c",
		Account: Account{Partition: "aws", Region: "eu-west-1", AccountID: "444455556666", ParameterPrefix: "/keyrotor/",
			UserPath: "/keyrotor/", KMSKeyID: "5678abcd-12ab-34cd-56ef-1234567890ab"}}
}

func TestAssumeTargetPolicyNamesExactlyEachListedMembersTargetRole(t *testing.T) {
	e := testEngine(t)
	tests := []struct {
		name     string
		accounts []string
		want     []string
	}{
		{"one member", []string{"444455556666"}, []string{"arn:aws:iam::444455556666:role/keyrotor/keyrotor-target"}},
		{"two members", []string{"444455556666", "777788889999"}, []string{
			"arn:aws:iam::444455556666:role/keyrotor/keyrotor-target", "arn:aws:iam::777788889999:role/keyrotor/keyrotor-target"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.MemberAccountIDs = tt.accounts
			doc, err := e.AssumeTargetPolicy()
			if err != nil {
				t.Fatal(err)
			}
			if len(doc.Statement) != 1 {
				t.Fatalf("want one statement, got %+v", doc.Statement)
			}
			s := doc.Statement[0]
			if !slices.Equal(s.Action, StringList{"sts:AssumeRole", "sts:TagSession"}) || !slices.Equal([]string(s.Resource), tt.want) {
				t.Errorf("statement grants %v on %v, want sts:AssumeRole and sts:TagSession (the function's session tag) on %v", s.Action, s.Resource, tt.want)
			}
			for _, r := range s.Resource {
				if strings.Contains(r, "*") || r != rotation.TargetRoleARN("aws", strings.Split(r, ":")[4]) {
					t.Errorf("resource %s is not exactly a member's target role", r)
				}
			}
		})
	}
}

// The trust policy admits the hub account's principals narrowed to the function roles by the
// session tag each must carry: sts:AssumeRole with the external id, sts:TagSession with the
// keyrotor:function tag only, its value one of the functions and naming the caller's own role.
// (iam-simulate decides the calls: internal/harness/leastprivilege.)
func TestTargetRoleTrustPolicyBindsEachFunctionRoleToItsSessionTag(t *testing.T) {
	m := testMember(t)
	doc, err := m.TrustPolicy()
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Statement) != 2 {
		t.Fatalf("want two statements (AssumeRole, TagSession), got %d", len(doc.Statement))
	}
	binding := "arn:aws:iam::111122223333:role/keyrotor-${aws:RequestTag/" + rotation.FunctionTagKey + "}"
	for i, action := range []string{"sts:AssumeRole", "sts:TagSession"} {
		s := doc.Statement[i]
		var p struct{ AWS string }
		if err := json.Unmarshal(s.Principal, &p); err != nil || p.AWS != "arn:aws:iam::111122223333:root" {
			t.Errorf("%s: principal %s, want the hub account (narrowed by aws:PrincipalArn)", action, s.Principal)
		}
		if !slices.Equal(s.Action, StringList{action}) {
			t.Errorf("statement %d grants %v, want %s only", i, s.Action, action)
		}
		eq := s.Condition["StringEquals"]
		if got := eq["aws:RequestTag/"+rotation.FunctionTagKey]; !slices.Equal([]string(got), Functions) {
			t.Errorf("%s: the tag's values %v, want the functions %v", action, got, Functions)
		}
		if got := eq["aws:PrincipalArn"]; !slices.Equal(got, StringList{binding}) {
			t.Errorf("%s: aws:PrincipalArn %v, want %s", action, got, binding)
		}
	}
	if got := doc.Statement[0].Condition["StringEquals"]["sts:ExternalId"]; !slices.Equal(got, StringList{"keyrotor-org-7f3a9c"}) {
		t.Errorf("sts:ExternalId %v", got)
	}
	if got := doc.Statement[1].Condition["ForAllValues:StringEquals"]["aws:TagKeys"]; !slices.Equal(got, StringList{rotation.FunctionTagKey}) {
		t.Errorf("aws:TagKeys %v, want only %s", got, rotation.FunctionTagKey)
	}
}

// The target role has no Step Functions, S3, Lambda or logs rights: the hub keeps those.
func TestTargetPolicyActsOnlyOnIAMUsersParametersAndTheMemberKey(t *testing.T) {
	m := testMember(t)
	doc, err := m.TargetPolicy()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range doc.Statement {
		for _, a := range s.Action {
			if !strings.HasPrefix(a, "iam:") && !strings.HasPrefix(a, "ssm:") && !strings.HasPrefix(a, "kms:") {
				t.Errorf("statement %s grants %s", s.Sid, a)
			}
		}
		for _, r := range s.Resource {
			if r == "*" && !slices.Equal(s.Action, StringList{"iam:ListUsers"}) {
				t.Errorf("statement %s grants %v on *", s.Sid, s.Action)
			}
			if strings.HasPrefix(r, "arn:") && strings.Split(r, ":")[4] != m.AccountID {
				t.Errorf("statement %s names %s, outside the member account", s.Sid, r)
			}
		}
	}
}

// Each reader of the member gets one key policy statement per parameter, as with the engine's
// key; the root account administers the key but cannot use it.
func TestMemberKeyPolicyLetsEachReaderDecryptOnlyItsParameters(t *testing.T) {
	m := testMember(t)
	a, b := "arn:aws:iam::444455556666:role/a", "arn:aws:iam::444455556666:role/b"
	m.Readers = map[string][]string{b: {"/keyrotor/b1", "/keyrotor/b2"}, a: {"/keyrotor/a"}}
	doc, err := m.KeyPolicy()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ConsumerReadsItsParameter0": a + " " + m.ParameterARN("/keyrotor/a"),
		"ConsumerReadsItsParameter1": b + " " + m.ParameterARN("/keyrotor/b1"),
		"ConsumerReadsItsParameter2": b + " " + m.ParameterARN("/keyrotor/b2"),
	}
	got := map[string]string{}
	for _, s := range doc.Statement {
		root := strings.Contains(string(s.Principal), ":root")
		if root && slices.ContainsFunc(s.Action, func(a string) bool {
			return a == "kms:*" || strings.HasPrefix(a, "kms:Encrypt") || strings.HasPrefix(a, "kms:Decrypt") || strings.HasPrefix(a, "kms:ReEncrypt") || strings.HasPrefix(a, "kms:GenerateDataKey")
		}) {
			t.Errorf("statement %s lets the account root use the key for data", s.Sid)
		}
		if !strings.HasPrefix(s.Sid, "ConsumerReadsItsParameter") {
			continue
		}
		var p struct{ AWS string }
		if err := json.Unmarshal(s.Principal, &p); err != nil {
			t.Fatal(err)
		}
		got[s.Sid] = p.AWS + " " + s.Condition["StringEquals"]["kms:EncryptionContext:PARAMETER_ARN"][0]
	}
	if len(got) != len(want) {
		t.Fatalf("reader statements %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %s, want %s", k, got[k], v)
		}
	}
}

// The engine accepts at most 100 member accounts (variables.tf): then every function role's
// inline policies (its own, assume-target, X-Ray) stay within IAM's 10,240 non-whitespace
// characters per role (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html),
// and the member environment with the longest external id AssumeRole takes (1224) within
// Lambda's 4 KB (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html),
// leaving room for the functions' own variables.
func TestHundredMemberAccountsFitIAMAndLambdaQuotas(t *testing.T) {
	e := testEngine(t)
	e.Name = strings.Repeat("k", 40) // the longest name the engine accepts
	e.ParameterPrefix, e.UserPath = "/"+strings.Repeat("p", 60)+"/", "/"+strings.Repeat("u", 60)+"/"
	for i := range 100 {
		e.MemberAccountIDs = append(e.MemberAccountIDs, fmt.Sprintf("%012d", 100000000000+i))
	}
	assume, err := e.AssumeTargetPolicy()
	if err != nil {
		t.Fatal(err)
	}
	xray, err := RenderDocument(filepath.Join(e.PolicyDir(), "xray.json.tftpl"), Vars{})
	if err != nil {
		t.Fatal(err)
	}
	size := func(d Document) int {
		b, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		return len(b) // compact JSON: IAM does not count whitespace
	}
	largest := 0
	for _, fn := range Functions {
		own, err := e.FunctionPolicy(fn)
		if err != nil {
			t.Fatal(err)
		}
		total := size(own) + size(assume) + size(xray)
		if total > 10240 {
			t.Errorf("%s: inline policies of %d characters with 100 member accounts, IAM allows 10,240", fn, total)
		}
		largest = max(largest, total)
	}
	t.Logf("largest function role's inline policies with 100 member accounts: %d characters of 10,240", largest)
	env := len("KEYROTOR_MEMBER_ACCOUNTS") + 100*13 - 1 + len("KEYROTOR_TARGET_EXTERNAL_ID") + 1224
	if budget := 4096 - 1024; env > budget {
		t.Errorf("member environment of %d bytes leaves less than 1 KB of Lambda's 4 KB for the functions' own variables", env)
	}
}
