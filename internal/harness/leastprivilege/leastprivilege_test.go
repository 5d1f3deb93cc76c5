package leastprivilege

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyrotor/keyrotor/internal/deployed"
)

const (
	managedUser   = "s3-signer"
	unmanagedUser = "alice"
	parameter     = "/keyrotor/s3-signer"
	lockParameter = parameter + ".lock"
	// otherParameter is another application's parameter, read by the broad reader.
	otherParameter = "/keyrotor/reports-exporter"
	foreignParam   = "/app/db-password"
	newKey         = "AKIANEWKEY0000000001"
	oldKey         = "AKIAOLDKEY0000000001"
	aliceKey       = "AKIAALICE00000000001"
)

type fixture struct {
	engine   deployed.Engine
	account  Account
	policies Policies
	reader   string // a consumer role listed in parameter_readers for parameter
	// broadReader is listed in parameter_readers for /keyrotor/other-user only, with an
	// identity policy allowing ssm:GetParameter and kms:Decrypt on everything: only the key
	// policy keeps it from decrypting parameter.
	broadReader string
	deployer    string // an administrator with every IAM permission
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	return newFixtureWith(t, func(*deployed.Engine) {})
}

// newFixtureWith renders the policies of an engine adjusted from the default one.
func newFixtureWith(t *testing.T, adjust func(*deployed.Engine)) fixture {
	t.Helper()
	root, err := deployed.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	f.engine = deployed.Engine{Root: root, Name: "keyrotor", Account: deployed.Account{Partition: "aws", Region: "eu-west-1",
		AccountID: "111122223333", ParameterPrefix: "/keyrotor/", UserPath: "/", KMSKeyID: "1234abcd-12ab-34cd-56ef-1234567890ab"}}
	adjust(&f.engine)
	f.reader = "arn:aws:iam::" + f.engine.AccountID + ":role/s3-signer-consumer"
	f.deployer = "arn:aws:iam::" + f.engine.AccountID + ":role/administrator"
	f.broadReader = "arn:aws:iam::" + f.engine.AccountID + ":role/reports-consumer"
	f.engine.Readers = map[string][]string{f.reader: {parameter}, f.broadReader: {otherParameter}}
	keyARN := f.engine.KMSKeyARN()
	f.account = Account{
		Partition: f.engine.Partition, Region: f.engine.Region, AccountID: f.engine.AccountID, UserPath: f.engine.UserPath,
		UserTags: func(user string) map[string]string {
			if user == unmanagedUser {
				return map[string]string{"team": "payments"}
			}
			return map[string]string{"keyrotor:managed": "true", "team": "reports"}
		},
		KeyOwner: func(id string) string {
			if id == aliceKey {
				return unmanagedUser
			}
			return managedUser
		},
		ParameterKey: func(name string) string {
			if strings.HasSuffix(name, ".lock") {
				return ""
			}
			return keyARN
		},
	}
	f.policies = Policies{Identity: map[string][]NamedPolicy{}, Resource: map[string]deployed.Document{}}
	for _, fn := range deployed.Functions {
		doc, err := f.engine.FunctionPolicy(fn)
		if err != nil {
			t.Fatal(err)
		}
		f.policies.Identity[f.engine.RoleARN(fn)] = []NamedPolicy{{Name: fn, Document: doc}}
	}
	keyPolicy, err := f.engine.SecretsKeyPolicy()
	if err != nil {
		t.Fatal(err)
	}
	f.policies.Resource[keyARN] = keyPolicy
	// The example consumer's policy (infra/examples/s3-signer) and an all-powerful administrator.
	f.policies.Identity[f.reader] = []NamedPolicy{{Name: "consumer", Document: deployed.Document{Version: "2012-10-17", Statement: []deployed.Statement{
		{Sid: "ReadSigningKey", Effect: "Allow", Action: deployed.StringList{"ssm:GetParameter"}, Resource: deployed.StringList{f.engine.ParameterARN(parameter)}},
		{Sid: "DecryptSigningKey", Effect: "Allow", Action: deployed.StringList{"kms:Decrypt"}, Resource: deployed.StringList{keyARN},
			Condition: map[string]map[string]deployed.StringList{"StringEquals": {"kms:EncryptionContext:PARAMETER_ARN": {f.engine.ParameterARN(parameter)}}}},
	}}}}
	// A consumer whose own policy allows every read and decryption: the key policy alone
	// confines it to otherParameter (kms:EncryptionContext:PARAMETER_ARN).
	f.policies.Identity[f.broadReader] = []NamedPolicy{{Name: "consumer", Document: deployed.Document{Version: "2012-10-17", Statement: []deployed.Statement{
		{Sid: "ReadEverything", Effect: "Allow", Action: deployed.StringList{"ssm:GetParameter", "kms:Decrypt"}, Resource: deployed.StringList{"*"}},
	}}}}
	f.policies.Identity[f.deployer] = []NamedPolicy{{Name: "administrator", Document: deployed.Document{Version: "2012-10-17", Statement: []deployed.Statement{
		{Sid: "Everything", Effect: "Allow", Action: deployed.StringList{"*"}, Resource: deployed.StringList{"*"}},
	}}}}
	return f
}

// req is one API request a function makes, in the form the fault proxy records it.
type req struct {
	who     string // function name, or "reader" / "deployer"
	service string
	action  string
	params  map[string]any
}

func (f fixture) principal(who string) string {
	switch who {
	case "reader":
		return f.reader
	case "deployer":
		return f.deployer
	case "broadreader":
		return f.broadReader
	}
	return f.engine.RoleARN(who)
}

func (f fixture) calls(t *testing.T, reqs []req) []Call {
	t.Helper()
	calls, _ := f.callsOf(t, reqs)
	return calls
}

// callsOf returns the calls of reqs and, for each call, the index of its request.
func (f fixture) callsOf(t *testing.T, reqs []req) ([]Call, []int) {
	t.Helper()
	var out []Call
	var from []int
	for n, r := range reqs {
		cs, err := f.account.FromRequest(f.principal(r.who), r.service, r.action, r.params)
		if err != nil {
			t.Fatal(err)
		}
		for i := range cs {
			if cs[i].Note == "" {
				cs[i].Note = r.who
			} else {
				cs[i].Note = r.who + ", " + cs[i].Note
			}
		}
		out = append(out, cs...)
		for range cs {
			from = append(from, n)
		}
	}
	return out, from
}

// runtimeLogs are the calls the Lambda runtime makes with each function's role.
func (f fixture) runtimeLogs() []Call {
	var out []Call
	for _, fn := range deployed.Functions {
		stream := f.engine.LogGroupARN(fn) + ":log-stream:2026/11/24/[$LATEST]0123456789abcdef"
		for _, action := range []string{"logs:CreateLogStream", "logs:PutLogEvents"} {
			out = append(out, Call{Principal: f.engine.RoleARN(fn), Action: action, Resource: stream, Note: fn + ", Lambda runtime"})
		}
	}
	return out
}

func sealContext(f fixture, user, key, execution string) map[string]any {
	return map[string]any{"user": user, "accessKeyId": key, "execution": f.engine.ExecutionARN(execution)}
}

// allowedRequests are the requests each function makes in a rotation (internal/rotation: Begin,
// Create, Store, Restore, Verify, Deactivate, Delete, Rollback, Release; its Trigger: rotate,
// awaitVerified, remove),
// plus a consumer reading the key and the deployer administering the key.
func allowedRequests(f fixture) []req {
	keyARN := f.engine.KMSKeyARN()
	user := map[string]any{"UserName": managedUser}
	outcomeEvent := map[string]any{"Entries": []any{map[string]any{"Source": "keyrotor", "DetailType": "keyrotor rotation", "Detail": `{"outcome":"rotated"}`}}}
	lock := map[string]any{"Name": lockParameter}
	history := map[string]any{"Name": parameter, "WithDecryption": false}
	return []req{
		// createkey: begin — tag check, parameter ownership, lock (stale lock broken)
		{"createkey", "iam", "ListUserTags", user},
		{"createkey", "iam", "GetUser", user},
		{"createkey", "ssm", "GetParameterHistory", history},
		{"createkey", "ssm", "ListTagsForResource", map[string]any{"ResourceType": "Parameter", "ResourceId": parameter}},
		{"createkey", "ssm", "PutParameter", map[string]any{"Name": lockParameter, "Type": "String", "Overwrite": false}},
		{"createkey", "ssm", "GetParameter", lock},
		{"createkey", "states", "DescribeExecution", map[string]any{"executionArn": f.engine.ExecutionARN("earlier")}},
		{"createkey", "ssm", "DeleteParameter", lock},
		// createkey: create — make room, create, seal, record in the lock
		{"createkey", "iam", "ListAccessKeys", user},
		{"createkey", "iam", "DeleteAccessKey", map[string]any{"UserName": managedUser, "AccessKeyId": oldKey}},
		{"createkey", "iam", "CreateAccessKey", user},
		{"createkey", "kms", "Encrypt", map[string]any{"KeyId": keyARN, "EncryptionContext": sealContext(f, managedUser, newKey, "exec-1")}},
		// storeparam: store — own lock, history, unseal, SecureString
		{"storeparam", "ssm", "GetParameter", lock},
		{"storeparam", "ssm", "GetParameterHistory", history},
		{"storeparam", "kms", "Decrypt", map[string]any{"KeyId": keyARN, "EncryptionContext": sealContext(f, managedUser, newKey, "exec-1")}},
		{"storeparam", "ssm", "PutParameter", map[string]any{"Name": parameter, "Type": "SecureString", "KeyId": keyARN, "Overwrite": true}},
		{"storeparam", "ssm", "AddTagsToResource", map[string]any{"ResourceType": "Parameter", "ResourceId": parameter}},
		// storeparam: restore proves its execution runs
		{"storeparam", "states", "DescribeExecution", map[string]any{"executionArn": f.engine.ExecutionARN("exec-1")}},
		// storeparam: restore — read decrypted history, put the previous value back or delete
		{"storeparam", "ssm", "GetParameterHistory", map[string]any{"Name": parameter, "WithDecryption": true}},
		{"storeparam", "ssm", "DeleteParameter", map[string]any{"Name": parameter}},
		// verifykey: own lock, read as a consumer (STS is called with the new key, not the role)
		{"verifykey", "ssm", "GetParameter", lock},
		{"verifykey", "ssm", "GetParameter", map[string]any{"Name": parameter, "WithDecryption": true}},
		// verifykey and deleteoldkeys advance the rotation's record (verifiedAt, extensions,
		// deactivatedAt), which is the lock
		{"verifykey", "ssm", "PutParameter", map[string]any{"Name": lockParameter, "Type": "String", "Overwrite": true}},
		{"deleteoldkeys", "ssm", "PutParameter", map[string]any{"Name": lockParameter, "Type": "String", "Overwrite": true}},
		// deleteoldkeys: deactivate, delete, rollback, release
		{"deleteoldkeys", "ssm", "GetParameter", lock},
		{"deleteoldkeys", "states", "DescribeExecution", map[string]any{"executionArn": f.engine.ExecutionARN("exec-1")}},
		// deleteoldkeys: deactivate and delete measure the floors in the execution's history
		{"deleteoldkeys", "states", "GetExecutionHistory", map[string]any{"executionArn": f.engine.ExecutionARN("exec-1")}},
		{"deleteoldkeys", "iam", "ListUserTags", user},
		{"deleteoldkeys", "iam", "GetAccessKeyLastUsed", map[string]any{"AccessKeyId": oldKey}},
		{"deleteoldkeys", "iam", "UpdateAccessKey", map[string]any{"UserName": managedUser, "AccessKeyId": oldKey, "Status": "Inactive"}},
		{"deleteoldkeys", "ssm", "GetParameterHistory", history},
		{"deleteoldkeys", "iam", "ListAccessKeys", user},
		{"deleteoldkeys", "iam", "DeleteAccessKey", map[string]any{"UserName": managedUser, "AccessKeyId": oldKey}},
		{"deleteoldkeys", "ssm", "DeleteParameter", lock},
		// the outcome event: createkey when Begin refuses, deleteoldkeys when a rotation ends
		{"createkey", "events", "PutEvents", outcomeEvent},
		{"deleteoldkeys", "events", "PutEvents", outcomeEvent},
		// trigger: start and wait; on destroy remove the managed keys and the parameter
		{"trigger", "states", "StartExecution", map[string]any{"stateMachineArn": f.engine.StateMachineARN()}},
		{"trigger", "states", "DescribeExecution", map[string]any{"executionArn": f.engine.ExecutionARN("exec-1")}},
		{"trigger", "iam", "ListUserTags", user},
		{"trigger", "iam", "GetUser", user},
		{"trigger", "ssm", "GetParameter", lock},
		{"trigger", "ssm", "GetParameterHistory", history},
		{"trigger", "ssm", "ListTagsForResource", map[string]any{"ResourceType": "Parameter", "ResourceId": parameter}},
		{"trigger", "states", "StopExecution", map[string]any{"executionArn": f.engine.ExecutionARN("exec-1")}},
		{"trigger", "iam", "ListAccessKeys", user},
		{"trigger", "iam", "DeleteAccessKey", map[string]any{"UserName": managedUser, "AccessKeyId": newKey}},
		{"trigger", "states", "GetExecutionHistory", map[string]any{"executionArn": f.engine.ExecutionARN("exec-1")}},
		{"trigger", "ssm", "DeleteParameter", map[string]any{"Name": parameter}},
		{"trigger", "ssm", "DeleteParameter", map[string]any{"Name": lockParameter}},
		// listusers: one page of users, then each user's tags (the managed tag decides)
		{"listusers", "iam", "ListUsers", map[string]any{"PathPrefix": "/", "MaxItems": "100"}},
		{"listusers", "iam", "ListUserTags", user},
		{"listusers", "iam", "ListUserTags", map[string]any{"UserName": unmanagedUser}},
		// listusers: the fleet's users object (read back and rewritten page by page) and the
		// report the summary reads, in the fleet bucket
		{"listusers", "s3", "GetObject", map[string]any{"Bucket": f.engine.FleetBucket(), "Key": "fleet/exec-1/users.json"}},
		{"listusers", "s3", "PutObject", map[string]any{"Bucket": f.engine.FleetBucket(), "Key": "fleet/exec-1/users.json"}},
		{"listusers", "s3", "GetObject", map[string]any{"Bucket": f.engine.FleetBucket(), "Key": "fleet/exec-1/report/id/manifest.json"}},
		// listusers: a fleet child's rotation followed up to its cut-over (action cutover)
		{"listusers", "states", "DescribeExecution", map[string]any{"executionArn": f.engine.ExecutionARN("exec-1")}},
		{"listusers", "states", "GetExecutionHistory", map[string]any{"executionArn": f.engine.ExecutionARN("exec-1")}},
		// a consumer listed in parameter_reader_arns; the deployer administering the key
		{"reader", "ssm", "GetParameter", map[string]any{"Name": parameter, "WithDecryption": true}},
		// the key policy lets each reader decrypt the parameters it is listed for (issue 17)
		{"broadreader", "ssm", "GetParameter", map[string]any{"Name": otherParameter, "WithDecryption": true}},
		{"deployer", "kms", "DescribeKey", map[string]any{"KeyId": keyARN}},
	}
}

// deniedRequests are calls outside each role's scope.
func deniedRequests(f fixture) []req {
	keyARN := f.engine.KMSKeyARN()
	alice := map[string]any{"UserName": unmanagedUser, "AccessKeyId": aliceKey}
	sealed := map[string]any{"KeyId": keyARN, "EncryptionContext": sealContext(f, managedUser, newKey, "exec-1")}
	return []req{
		// users without keyrotor:managed=true
		{"createkey", "iam", "CreateAccessKey", alice},
		{"createkey", "iam", "ListAccessKeys", alice},
		{"createkey", "iam", "DeleteAccessKey", alice},
		{"deleteoldkeys", "iam", "UpdateAccessKey", map[string]any{"UserName": unmanagedUser, "AccessKeyId": aliceKey, "Status": "Inactive"}},
		{"deleteoldkeys", "iam", "DeleteAccessKey", alice},
		{"deleteoldkeys", "iam", "GetAccessKeyLastUsed", map[string]any{"AccessKeyId": aliceKey}},
		{"trigger", "iam", "DeleteAccessKey", alice},
		{"trigger", "iam", "ListAccessKeys", alice},
		// parameters outside the prefix (also one that merely starts like it)
		{"createkey", "ssm", "PutParameter", map[string]any{"Name": foreignParam, "Type": "String"}},
		{"createkey", "ssm", "DeleteParameter", map[string]any{"Name": "/keyrotor-other/lock"}},
		{"storeparam", "ssm", "PutParameter", map[string]any{"Name": foreignParam, "Type": "SecureString", "KeyId": keyARN}},
		{"verifykey", "ssm", "GetParameter", map[string]any{"Name": foreignParam, "WithDecryption": true}},
		// the record's writers write locks only, never a key parameter
		{"verifykey", "ssm", "PutParameter", map[string]any{"Name": parameter, "Type": "SecureString", "KeyId": keyARN, "Overwrite": true}},
		{"deleteoldkeys", "ssm", "PutParameter", map[string]any{"Name": parameter, "Type": "SecureString", "KeyId": keyARN, "Overwrite": true}},
		{"deleteoldkeys", "ssm", "DeleteParameter", map[string]any{"Name": foreignParam}},
		{"trigger", "ssm", "DeleteParameter", map[string]any{"Name": foreignParam}},
		// the trigger reads locks (their holder), never the key parameter itself
		{"trigger", "ssm", "GetParameter", map[string]any{"Name": parameter, "WithDecryption": true}},
		{"trigger", "ssm", "GetParameter", map[string]any{"Name": "/keyrotor-other/x.lock"}},
		{"reader", "ssm", "GetParameter", map[string]any{"Name": "/keyrotor/other-user", "WithDecryption": true}},
		// a reader may decrypt only its own parameters: the broad reader's policy allows the
		// reads, the key policy refuses SSM's kms:Decrypt for another parameter (issue 17)
		{"broadreader", "ssm", "GetParameter", map[string]any{"Name": parameter, "WithDecryption": true}},
		{"reader", "ssm", "GetParameter", map[string]any{"Name": otherParameter, "WithDecryption": true}},
		// the sealed secret: only createkey seals, only storeparam unseals, nobody else
		{"createkey", "kms", "Decrypt", sealed},
		{"verifykey", "kms", "Decrypt", sealed},
		{"deleteoldkeys", "kms", "Decrypt", sealed},
		{"trigger", "kms", "Decrypt", sealed},
		{"reader", "kms", "Decrypt", sealed},
		{"deployer", "kms", "Decrypt", sealed},
		{"deployer", "kms", "Encrypt", sealed},
		{"storeparam", "kms", "Encrypt", sealed},
		{"createkey", "kms", "Encrypt", map[string]any{"KeyId": keyARN, "EncryptionContext": map[string]any{"user": managedUser, "execution": "arn:aws:states:eu-west-1:111122223333:execution:another-machine:x"}}},
		{"createkey", "kms", "Encrypt", map[string]any{"KeyId": keyARN, "EncryptionContext": map[string]any{"execution": f.engine.ExecutionARN("exec-1"), "purpose": "anything"}}},
		{"createkey", "kms", "Encrypt", map[string]any{"KeyId": keyARN}},
		// listusers reads users and tags, nothing else
		{"listusers", "iam", "CreateAccessKey", map[string]any{"UserName": managedUser}},
		{"listusers", "iam", "ListAccessKeys", map[string]any{"UserName": managedUser}},
		{"listusers", "ssm", "GetParameter", map[string]any{"Name": parameter, "WithDecryption": true}},
		{"listusers", "s3", "GetObject", map[string]any{"Bucket": "other-bucket", "Key": "fleet/exec-1/users.json"}},
		{"listusers", "s3", "PutObject", map[string]any{"Bucket": f.engine.FleetBucket(), "Key": "elsewhere.json"}},
		{"listusers", "s3", "DeleteObject", map[string]any{"Bucket": f.engine.FleetBucket(), "Key": "fleet/exec-1/users.json"}},
		{"listusers", "kms", "Decrypt", sealed},
		{"listusers", "states", "StopExecution", map[string]any{"executionArn": f.engine.ExecutionARN("exec-1")}},
		{"listusers", "states", "GetExecutionHistory", map[string]any{"executionArn": "arn:aws:states:eu-west-1:111122223333:execution:payments:x"}},
		{"deleteoldkeys", "states", "GetExecutionHistory", map[string]any{"executionArn": "arn:aws:states:eu-west-1:111122223333:execution:payments:x"}},
		{"deleteoldkeys", "states", "GetExecutionHistory", map[string]any{"executionArn": "arn:aws:states:eu-west-1:111122223333:execution:keyrotor-rotate-fleet:x"}},
		// other state machines
		{"trigger", "states", "StartExecution", map[string]any{"stateMachineArn": "arn:aws:states:eu-west-1:111122223333:stateMachine:payments"}},
		{"trigger", "states", "StopExecution", map[string]any{"executionArn": "arn:aws:states:eu-west-1:111122223333:execution:payments:x"}},
		{"createkey", "states", "DescribeExecution", map[string]any{"executionArn": "arn:aws:states:eu-west-1:111122223333:execution:payments:x"}},
	}
}

func TestEveryCallOfARotationIsAllowedAndEveryStatementIsNeeded(t *testing.T) {
	f := newFixture(t)
	calls := append(f.calls(t, allowedRequests(f)), f.runtimeLogs()...)
	assertAllowedAndEveryStatementNeeded(t, f, calls)
}

// assertAllowedAndEveryStatementNeeded evaluates calls, logs them as a table and requires each
// to be allowed, every statement of the functions' policies and the key policy to decide some
// call, and every action a statement lists to be needed by one.
func assertAllowedAndEveryStatementNeeded(t *testing.T, f fixture, calls []Call) {
	t.Helper()
	ev, err := NewEvaluator(f.engine.Root)
	if err != nil {
		t.Fatal(err)
	}
	decisions, err := ev.Evaluate(context.Background(), calls, f.policies)
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	fmt.Fprintln(&table, "| by | action | resource | result | decisive statements |")
	fmt.Fprintln(&table, "| --- | --- | --- | --- | --- |")
	for _, d := range decisions {
		fmt.Fprintf(&table, "| %s | %s | %s | %s | %s |\n", d.Call.Note, d.Call.Action, d.Call.Resource, d.Result, refs(d.Decisive))
		if !d.Allowed() {
			t.Errorf("%s: %s on %s (context %v) is %s", d.Call.Note, d.Call.Action, d.Call.Resource, d.Call.Context, d.Result)
		}
	}
	t.Log("\n" + table.String())

	// The test's own principals are not keyrotor's policies.
	everyStatementNeeded(t, decisions, f.policies, func(s StatementRef) bool {
		return s.Policy != "consumer" && s.Policy != "administrator"
	})
}

// everyStatementNeeded checks that every statement of p that counts decides one of the
// allowed calls and lists no action that none of them needs: what a policy grants beyond the
// calls is a grant to remove.
func everyStatementNeeded(t *testing.T, decisions []Decision, p Policies, counts func(StatementRef) bool) {
	t.Helper()
	for _, u := range Coverage(decisions, p) {
		if !counts(u.Statement) {
			continue
		}
		if !u.Decisive() {
			t.Errorf("statement %s decides no call: remove it or add the call that needs it", u.Statement)
			continue
		}
		// Administration is granted by patterns to people, not exercised action by action.
		if u.Statement.Sid == "KeyAdministration" {
			continue
		}
		if unused := u.UnusedActions(); len(unused) > 0 {
			t.Errorf("statement %s grants %v, which no call needs", u.Statement, unused)
		}
	}
}

// allStatements counts every statement.
func allStatements(StatementRef) bool { return true }

func TestCallsOutsideTheScopeAreDenied(t *testing.T) {
	f := newFixture(t)
	ev, err := NewEvaluator(f.engine.Root)
	if err != nil {
		t.Fatal(err)
	}
	reqs := deniedRequests(f)
	calls, from := f.callsOf(t, reqs)
	decisions, err := ev.Evaluate(context.Background(), calls, f.policies)
	if err != nil {
		t.Fatal(err)
	}
	// A request fails when any call it needs is denied: a SecureString write outside the prefix
	// is refused at ssm:PutParameter and at SSM's kms:Encrypt alike.
	denied := make([]bool, len(reqs))
	var table strings.Builder
	for i, d := range decisions {
		fmt.Fprintf(&table, "| %s | %s | %s | %s |\n", d.Call.Note, d.Call.Action, d.Call.Resource, d.Result)
		if !d.Allowed() {
			denied[from[i]] = true
		}
	}
	t.Log("\n" + table.String())
	for n, r := range reqs {
		if !denied[n] {
			t.Errorf("%s %s:%s %v is allowed, want denied", r.who, r.service, r.action, r.params)
		}
	}
}

func TestEvaluateRejectsCallsIAMWouldNotRecognise(t *testing.T) {
	f := newFixture(t)
	ev, err := NewEvaluator(f.engine.Root)
	if err != nil {
		t.Fatal(err)
	}
	role := f.engine.RoleARN("createkey")
	tests := []struct {
		name string
		call Call
		want string
	}{
		{"unknown action", Call{Principal: role, Action: "iam:CreateAccessKeys", Resource: f.engine.UserARN(managedUser)}, "invalid.action"},
		{"resource of the wrong type", Call{Principal: role, Action: "iam:CreateAccessKey", Resource: f.engine.ParameterARN(parameter)}, "no.resource.types"},
		{"context key of another service", Call{Principal: role, Action: "iam:CreateAccessKey", Resource: f.engine.UserARN(managedUser), Context: map[string][]string{"kms:ViaService": {"ssm.eu-west-1.amazonaws.com"}}}, "do not apply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ev.Evaluate(context.Background(), []Call{tt.call}, f.policies)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestFromRequestAddsTheKMSCallSSMMakesForSecureStrings(t *testing.T) {
	f := newFixture(t)
	role := f.engine.RoleARN("storeparam")
	tests := []struct {
		name    string
		action  string
		params  map[string]any
		actions []string
	}{
		{"SecureString write", "PutParameter", map[string]any{"Name": parameter, "Type": "SecureString", "KeyId": f.engine.KMSKeyID}, []string{"ssm:PutParameter", "kms:Encrypt"}},
		{"String write", "PutParameter", map[string]any{"Name": lockParameter, "Type": "String"}, []string{"ssm:PutParameter"}},
		{"decrypted read", "GetParameter", map[string]any{"Name": parameter, "WithDecryption": true}, []string{"ssm:GetParameter", "kms:Decrypt"}},
		{"decrypted read from a query", "GetParameterHistory", map[string]any{"Name": parameter, "WithDecryption": "true"}, []string{"ssm:GetParameterHistory", "kms:Decrypt"}},
		{"encrypted read", "GetParameterHistory", map[string]any{"Name": parameter, "WithDecryption": false}, []string{"ssm:GetParameterHistory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, err := f.account.FromRequest(role, "ssm", tt.action, tt.params)
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, c := range calls {
				actions = append(actions, c.Action)
			}
			if !slices.Equal(actions, tt.actions) {
				t.Fatalf("calls %v, want %v", actions, tt.actions)
			}
			if len(calls) == 2 {
				kms := calls[1]
				if kms.Resource != f.engine.KMSKeyARN() || kms.Context["kms:EncryptionContext:PARAMETER_ARN"][0] != f.engine.ParameterARN(parameter) || kms.Context["kms:ViaService"][0] != "ssm.eu-west-1.amazonaws.com" {
					t.Errorf("KMS call %+v", kms)
				}
			}
		})
	}
}

func TestActionMatchesIAMPatterns(t *testing.T) {
	tests := []struct {
		pattern, action string
		want            bool
	}{
		{"kms:Decrypt", "kms:decrypt", true},
		{"kms:Describe*", "kms:DescribeKey", true},
		{"kms:Get*", "kms:Decrypt", false},
		{"*", "iam:CreateAccessKey", true},
		{"ssm:GetParameter", "ssm:GetParameterHistory", false},
	}
	for _, tt := range tests {
		if got := ActionMatches(tt.pattern, tt.action); got != tt.want {
			t.Errorf("ActionMatches(%q, %q) = %v, want %v", tt.pattern, tt.action, got, tt.want)
		}
	}
}

func refs(rs []StatementRef) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return strings.Join(out, ", ")
}

func TestSchedulerMayOnlyStartTheRotationMachineAndDeadLetter(t *testing.T) {
	f := newFixture(t)
	ev, err := NewEvaluator(f.engine.Root)
	if err != nil {
		t.Fatal(err)
	}
	const (
		role = "arn:aws:iam::111122223333:role/keyrotor-s3-signer-scheduler"
		dlq  = "arn:aws:sqs:eu-west-1:111122223333:keyrotor-s3-signer-dlq"
	)
	doc, err := deployed.RenderDocument(filepath.Join(f.engine.Root, "infra", "modules", "managed-key", "policies", "scheduler.json.tftpl"),
		deployed.Vars{"state_machine_arn": f.engine.StateMachineARN(), "dead_letter_queue_arn": dlq})
	if err != nil {
		t.Fatal(err)
	}
	p := Policies{Identity: map[string][]NamedPolicy{role: {{Name: "scheduler", Document: doc}}}}
	calls := []Call{
		{Principal: role, Action: "states:StartExecution", Resource: f.engine.StateMachineARN()},
		{Principal: role, Action: "sqs:SendMessage", Resource: dlq},
		{Principal: role, Action: "states:StartExecution", Resource: "arn:aws:states:eu-west-1:111122223333:stateMachine:payments"},
		{Principal: role, Action: "sqs:SendMessage", Resource: "arn:aws:sqs:eu-west-1:111122223333:orders"},
		{Principal: role, Action: "states:StopExecution", Resource: f.engine.ExecutionARN("exec-1")},
	}
	decisions, err := ev.Evaluate(context.Background(), calls, p)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, true, false, false, false} {
		if got := decisions[i].Allowed(); got != want {
			t.Errorf("%s on %s: allowed = %v, want %v", calls[i].Action, calls[i].Resource, got, want)
		}
	}
	for _, u := range Coverage(decisions, p) {
		if unused := u.UnusedActions(); len(unused) > 0 {
			t.Errorf("statement %s grants %v, which no call needs", u.Statement, unused)
		}
	}
}

func TestManagedUserPathNarrowsWhichUsersKeysMayBeTouched(t *testing.T) {
	f := newFixtureWith(t, func(e *deployed.Engine) { e.UserPath = "/service-users/" })
	ev, err := NewEvaluator(f.engine.Root)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want bool
	}{
		{"/service-users/", true},
		{"/service-users/reports/", true},
		{"/", false},
		{"/people/", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			a := f.account
			a.UserPath = tt.path
			calls, err := a.FromRequest(f.engine.RoleARN("createkey"), "iam", "CreateAccessKey", map[string]any{"UserName": managedUser})
			if err != nil {
				t.Fatal(err)
			}
			d, err := ev.Evaluate(context.Background(), calls, f.policies)
			if err != nil {
				t.Fatal(err)
			}
			if d[0].Allowed() != tt.want {
				t.Fatalf("CreateAccessKey on %s: %s, want allowed = %v", calls[0].Resource, d[0].Result, tt.want)
			}
		})
	}
}
