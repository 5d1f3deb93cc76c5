package localenv_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/harness/testenv"
	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// startRotation starts one rotation with input and returns its execution ARN.
func startRotation(t *testing.T, input map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(input)
	start, err := env.SFN().StartExecution(context.Background(), &sfn.StartExecutionInput{StateMachineArn: aws.String(env.StateMachineARN), Input: aws.String(string(b))})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(start.ExecutionArn)
}

// consumerSecret reads the user's parameter in account as its consumer does, authenticates
// with the key in it, and returns the key id and secret.
func consumerSecret(t *testing.T, account, parameter, user string) (string, string) {
	t.Helper()
	ctx := context.Background()
	cfg, err := env.AccountConfig(account)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(parameter), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatalf("consumer in %s reads %s: %v", account, parameter, err)
	}
	var k struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(aws.ToString(out.Parameter.Value)), &k); err != nil {
		t.Fatalf("parameter %s in %s is not the json format", parameter, account)
	}
	id, err := sts.NewFromConfig(motoserver.Config(env.AWSEndpoint, aws.Credentials{}), func(o *sts.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider(k.AccessKeyId, k.SecretAccessKey, "")
	}).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("consumer in %s cannot authenticate with the key of %s: %v", account, parameter, err)
	}
	if aws.ToString(id.Account) != account || aws.ToString(id.Arn) != "arn:aws:iam::"+account+":user/"+user {
		t.Errorf("the key of %s in %s authenticates as %s (account %s)", parameter, account, aws.ToString(id.Arn), aws.ToString(id.Account))
	}
	return k.AccessKeyId, k.SecretAccessKey
}

// accountParameters returns every parameter of account under /keyrotor/ with its decrypted value.
func accountParameters(t *testing.T, account string) map[string]string {
	t.Helper()
	cfg, err := env.AccountConfig(account)
	if err != nil {
		t.Fatal(err)
	}
	client := ssm.NewFromConfig(cfg)
	values := map[string]string{}
	p := ssm.NewGetParametersByPathPaginator(client, &ssm.GetParametersByPathInput{Path: aws.String("/keyrotor"), Recursive: aws.Bool(true), WithDecryption: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, prm := range page.Parameters {
			values[aws.ToString(prm.Name)] = aws.ToString(prm.Value)
		}
	}
	return values
}

func executionHistory(t *testing.T, arn string) string {
	t.Helper()
	var all strings.Builder
	p := sfn.NewGetExecutionHistoryPaginator(env.SFN(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(page.Events)
		all.Write(b)
	}
	return all.String()
}

// The hub rotates a user of the same name in two member accounts at once: each account's
// consumer authenticates with its own new key, the hub holds neither the users, their keys nor
// their parameters, and no secret is anywhere but in its own account's parameter.
func TestHubRotatesUsersInTwoMemberAccounts(t *testing.T) {
	ctx := context.Background()
	if len(env.Members) < 2 {
		t.Fatalf("the local engine has %d member accounts, want 2", len(env.Members))
	}
	user := fmt.Sprintf("org-signer-%d", userSeq.Add(1))
	param := "/keyrotor/" + user
	accounts := env.MemberAccountIDs()[:2]
	oldKeys := map[string]string{}
	for _, a := range accounts {
		ids, err := env.CreateManagedUser(ctx, localenv.ManagedUser{Name: user, Keys: 1, Parameter: param, Account: a})
		if err != nil {
			t.Fatal(err)
		}
		oldKeys[a] = ids[0]
	}
	env.Proxy.ResetCalls()
	arns := map[string]string{}
	for _, a := range accounts {
		arns[a] = startRotation(t, map[string]any{"userName": user, "accountId": a, "graceSeconds": 0, "inactiveSeconds": 0})
	}
	secrets := map[string]string{}
	newKeys := map[string]string{}
	var histories []string
	for _, a := range accounts {
		out := waitExecution(t, arns[a])
		if out.Status != sfntypes.ExecutionStatusSucceeded {
			t.Fatalf("rotation in %s: %s %s %s", a, out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
		}
		var doc rotation.Rotation
		if err := json.Unmarshal([]byte(aws.ToString(out.Output)), &doc); err != nil {
			t.Fatal(err)
		}
		id, secret := consumerSecret(t, a, param, user)
		if id != doc.NewAccessKeyID || id == oldKeys[a] {
			t.Errorf("%s: the consumer reads key %s; the rotation made %s (old %s)", a, id, doc.NewAccessKeyID, oldKeys[a])
		}
		secrets[a], newKeys[a] = secret, id
		histories = append(histories, executionHistory(t, arns[a]))
		cfg, _ := env.AccountConfig(a)
		keys, err := iam.NewFromConfig(cfg).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
		if err != nil {
			t.Fatal(err)
		}
		if len(keys.AccessKeyMetadata) != 1 || aws.ToString(keys.AccessKeyMetadata[0].AccessKeyId) != id {
			t.Errorf("%s: user %s has %d keys after the rotation, want only the new %s", a, user, len(keys.AccessKeyMetadata), id)
		}
	}
	if newKeys[accounts[0]] == newKeys[accounts[1]] {
		t.Errorf("both accounts hold key %s", newKeys[accounts[0]])
	}

	// The hub holds nothing of theirs: no such user, no parameter, no lock.
	if exists, err := env.UserExists(ctx, user); err != nil || exists {
		t.Errorf("hub: user %s exists=%v (%v), want it only in the member accounts", user, exists, err)
	}
	hubParams := accountParameters(t, localenv.AccountID)
	for _, name := range []string{param, param + rotation.LockSuffix} {
		if _, ok := hubParams[name]; ok {
			t.Errorf("hub holds parameter %s", name)
		}
	}
	// No secret anywhere but its own account's parameter.
	places := map[string]string{"function logs": logText(), "recorded calls": callText()}
	for i, h := range histories {
		places[fmt.Sprintf("history of rotation %d", i)] = h
	}
	for name, v := range hubParams {
		places["hub parameter "+name] = v
	}
	for _, a := range accounts {
		for name, v := range accountParameters(t, a) {
			places[a+" parameter "+name] = v
		}
	}
	for a, secret := range secrets {
		for where, text := range places {
			if strings.Contains(text, secret) && where != a+" parameter "+param {
				t.Errorf("the secret of %s's key is in %s", a, where)
			}
		}
		if !strings.Contains(places[a+" parameter "+param], secret) {
			t.Errorf("%s's own parameter does not hold its secret", a)
		}
	}
	// Every call in a member account was made by a session of its keyrotor-target role named
	// after the execution (moto names the session's caller).
	assumed := map[string]bool{}
	for _, c := range env.Proxy.Calls() {
		if c.Service == "sts" && c.Action == "AssumeRole" {
			role := fmt.Sprint(c.Params["RoleArn"])
			if !strings.HasSuffix(role, ":role/keyrotor/keyrotor-target") || fmt.Sprint(c.Params["ExternalId"]) != localenv.ExternalID {
				t.Errorf("AssumeRole of %v with external id %v", c.Params["RoleArn"], c.Params["ExternalId"])
			}
			assumed[role] = true
		}
	}
	for _, a := range accounts {
		if !assumed[rotation.TargetRoleARN("aws", a)] {
			t.Errorf("no AssumeRole of %s's keyrotor-target role was seen", a)
		}
	}
}

func logText() string {
	var b strings.Builder
	for _, l := range env.Logs() {
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

func callText() string {
	b, _ := json.Marshal(env.Proxy.Calls())
	return string(b)
}

// A run naming an account that is not one of the engine's member accounts fails closed before
// any call: no AssumeRole, nothing changed.
func TestRunNamingAnUnlistedAccountFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		name, account, wantError string
	}{
		{"account not listed", "999999999999", rotation.AccountNotAllowed},
		{"the hub's own id is not a member", localenv.AccountID, rotation.AccountNotAllowed},
		{"not an account id", "12345", rotation.InvalidInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env.Proxy.ResetCalls()
			out := waitExecution(t, startRotation(t, map[string]any{"userName": "org-anyone", "accountId": tc.account}))
			if out.Status != sfntypes.ExecutionStatusFailed || aws.ToString(out.Error) != tc.wantError || !strings.Contains(aws.ToString(out.Cause), tc.account) {
				t.Errorf("got %s %q %q, want FAILED %s naming %s", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), tc.wantError, tc.account)
			}
			for _, c := range env.Proxy.Calls() {
				if c.Service == "events" && c.Action == "PutEvents" && c.Account == "" {
					continue // the refusal's outcome event, on the hub's own bus (docs/steps.md)
				}
				t.Errorf("a call was made for a refused account: %s:%s", c.Service, c.Action)
			}
		})
	}
}

// The member role acts only on managed users: an unmanaged user's keys are untouched
// (UserNotManaged), and the role cannot opt a user in, create keys outside a rotation's
// steps' actions, or touch anything its action list lacks (moto authorization, live).
func TestMemberRoleCannotTouchUnmanagedUsers(t *testing.T) {
	ctx := context.Background()
	account := env.MemberAccountIDs()[0]
	user := fmt.Sprintf("org-unmanaged-%d", userSeq.Add(1))
	ids, err := env.CreateManagedUser(ctx, localenv.ManagedUser{Name: user, Keys: 1, Account: account, Unmanaged: true})
	if err != nil {
		t.Fatal(err)
	}
	out := waitExecution(t, startRotation(t, map[string]any{"userName": user, "accountId": account, "graceSeconds": 0, "inactiveSeconds": 0}))
	if aws.ToString(out.Error) != rotation.UserNotManaged {
		t.Errorf("rotation of unmanaged %s in %s: %s %s, want UserNotManaged", user, account, aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	cfg, _ := env.AccountConfig(account)
	keys, err := iam.NewFromConfig(cfg).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.AccessKeyMetadata) != 1 || aws.ToString(keys.AccessKeyMetadata[0].AccessKeyId) != ids[0] {
		t.Errorf("unmanaged %s's keys changed: %v", user, keys.AccessKeyMetadata)
	}

	// The role's own session, as the hub's functions get it.
	target := targetSession(t, account)
	iamc := iam.NewFromConfig(target)
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"opt a user in (iam:TagUser)", func() error {
			_, err := iamc.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(user), Tags: []iamtypes.Tag{{Key: aws.String(rotation.ManagedTagKey), Value: aws.String("true")}}})
			return err
		}},
		{"create a user (iam:CreateUser)", func() error {
			_, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user + "-new")})
			return err
		}},
		{"give itself more (iam:PutRolePolicy)", func() error {
			_, err := iamc.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(rotation.TargetRoleName), PolicyName: aws.String("more"),
				PolicyDocument: aws.String(localenv.TargetRolePolicy([]string{"*"}))})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var apiErr smithy.APIError
			if err := tc.call(); !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDenied" {
				t.Errorf("the member role could %s: %v", tc.name, err)
			}
		})
	}
}

var targetMu sync.Mutex

// targetSession is a session of account's keyrotor-target role with the engine's external id.
func targetSession(t *testing.T, account string) aws.Config {
	t.Helper()
	targetMu.Lock()
	defer targetMu.Unlock()
	out, err := sts.NewFromConfig(env.AdminConfig()).AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String(rotation.TargetRoleARN("aws", account)), RoleSessionName: aws.String("members-test"), ExternalId: aws.String(localenv.ExternalID),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	return motoserver.Config(env.AWSEndpoint, aws.Credentials{AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey), SessionToken: aws.ToString(c.SessionToken)})
}

// The fleet over accountIds rotates every managed user under the path in each listed member
// account, and its summary counts the rotations of each account; an account that is not a
// member is refused before anything is listed.
func TestFleetRotatesTheManagedUsersOfEachListedAccount(t *testing.T) {
	ctx := context.Background()
	accounts := env.MemberAccountIDs()[:2]
	path := fmt.Sprintf("/fleet-org-%d/", userSeq.Add(1))
	want := map[string]int{accounts[0]: 3, accounts[1]: 2}
	for _, a := range accounts {
		if err := testenv.CreateFleetUsersIn(ctx, env, a, path, fleetUsers("org-fleet-"+a[:3], want[a]), 1); err != nil {
			t.Fatal(err)
		}
	}
	// The same path in the hub: not listed, so not rotated.
	hubUsers := fleetUsers("org-fleet-hub", 1)
	if err := testenv.CreateFleetUsers(ctx, env, path, hubUsers, 1); err != nil {
		t.Fatal(err)
	}
	x, _ := runFleet(t, map[string]any{"pathPrefix": path, "accountIds": accounts, "graceSeconds": 0, "inactiveSeconds": 0})
	var listed []string
	for _, a := range accounts {
		listed = append(listed, fleetUsers("org-fleet-"+a[:3], want[a])...)
	}
	waitRotationsEnded(t, listed) // the fleet ends at the cut-overs; each rotation then retires its old key
	// IAM's rate is per account, so the listing reads them side by side: one page of each in
	// the first call, and no further call (ListMoreUsers) for accounts of one page each.
	h, err := env.SFN().GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(x.Arn), MaxResults: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range h.Events {
		if d := ev.StateEnteredEventDetails; d != nil && aws.ToString(d.Name) == "ListMoreUsers" {
			t.Errorf("the fleet over %v entered ListMoreUsers: its accounts of one page each were listed one after another", accounts)
			break
		}
	}
	s := decodeSummary(t, x)
	if s.Counts.Rotated != 5 || s.Counts.Failed != 0 || s.Managed != 5 {
		t.Errorf("fleet over %v: %+v (managed %d), want 5 rotated", accounts, s.Counts, s.Managed)
	}
	for _, a := range accounts {
		if got := s.ByAccount[a]; got.Rotated != want[a] {
			t.Errorf("summary of %s: %+v, want %d rotated", a, got, want[a])
		}
		cfg, _ := env.AccountConfig(a)
		for _, u := range fleetUsers("org-fleet-"+a[:3], want[a]) {
			keys, err := iam.NewFromConfig(cfg).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(u)})
			if err != nil {
				t.Fatal(err)
			}
			// The old key no parameter held is kept inactive (UnknownKey); the new one is active.
			active := 0
			for _, k := range keys.AccessKeyMetadata {
				if k.Status == iamtypes.StatusTypeActive {
					active++
				}
			}
			if active != 1 {
				t.Errorf("%s in %s has %d active keys after its rotation, want the new one only", u, a, active)
			}
			if _, ok := accountParameters(t, a)["/keyrotor/"+u]; !ok {
				t.Errorf("%s in %s has no parameter", u, a)
			}
		}
	}
	if _, ok := accountParameters(t, localenv.AccountID)["/keyrotor/"+hubUsers[0]]; ok {
		t.Errorf("the hub's %s was rotated by a fleet over member accounts", hubUsers[0])
	}

	refused, _ := runFleet(t, map[string]any{"pathPrefix": path, "accountIds": []string{accounts[0], "999999999999"}})
	if refused.Status != "FAILED" || refused.Error != rotation.AccountNotAllowed || !strings.Contains(refused.Cause, "999999999999") {
		t.Errorf("fleet naming an unlisted account: %s %s %s", refused.Status, refused.Error, refused.Cause)
	}
}

// Each action of the keyrotor-target role is needed: without it (moto enforces the role's
// action list) a rotation in the member account fails, naming the action; iam:ListUsers is
// the fleet's. With the whole list, every call a member rotation makes is one of its actions.
func TestEveryMemberRoleActionIsNeeded(t *testing.T) {
	ctx := context.Background()
	account := env.MemberAccountIDs()[1]
	t.Cleanup(func() { _ = env.SetMemberRoleActions(context.Background(), account, localenv.MemberRoleActions) })
	start := func(t *testing.T) string {
		t.Helper()
		user := fmt.Sprintf("org-needs-%d", userSeq.Add(1))
		if _, err := env.CreateManagedUser(ctx, localenv.ManagedUser{Name: user, Keys: 1, Parameter: "/keyrotor/" + user, Account: account}); err != nil {
			t.Fatal(err)
		}
		return startRotation(t, map[string]any{"userName": user, "accountId": account, "graceSeconds": 0, "inactiveSeconds": 0})
	}
	rotate := func(t *testing.T) *sfn.DescribeExecutionOutput { t.Helper(); return waitExecution(t, start(t)) }
	for _, action := range localenv.MemberRoleActions {
		if action == "iam:ListUsers" {
			continue // the fleet's listing: TestFleetRotatesTheManagedUsersOfEachListedAccount
		}
		t.Run(action, func(t *testing.T) {
			if err := env.SetMemberRoleActions(ctx, account, slices.DeleteFunc(slices.Clone(localenv.MemberRoleActions), func(a string) bool { return a == action })); err != nil {
				t.Fatal(err)
			}
			// The step is refused MemberAccessDenied naming the action and the role. The state
			// machine retries it for about a minute (a grant may be propagating) before the
			// rotation fails with that Error and Cause (faults/TestMemberCallDeniedForGoodFails…);
			// here the first refusal is the evidence, and the run is stopped.
			arn := start(t)
			t.Cleanup(func() {
				_, _ = env.SFN().StopExecution(context.Background(), &sfn.StopExecutionInput{ExecutionArn: aws.String(arn)})
			})
			cause := firstFailure(t, arn, rotation.MemberAccessDenied)
			if !strings.Contains(cause, action) || !strings.Contains(cause, "keyrotor-target role of account "+account) {
				t.Errorf("without %s: the step was refused with %q", action, cause)
			}
		})
	}
	if err := env.SetMemberRoleActions(ctx, account, localenv.MemberRoleActions); err != nil {
		t.Fatal(err)
	}
	hubKeys := map[string]bool{}
	for _, fn := range deployed.Functions {
		id, _ := sessions.Of(fn)
		hubKeys[id] = true
	}
	for _, m := range env.Members {
		hubKeys[m.Admin.AccessKeyID] = true // the test's own set-up in the member account
	}
	env.Proxy.ResetCalls()
	if out := rotate(t); out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("with the whole list: %s %s", aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	for _, c := range env.Proxy.Calls() {
		if hubKeys[c.AccessKeyID] || c.Service == "sts" && c.Action == "GetCallerIdentity" || strings.HasPrefix(c.AccessKeyID, "AKIA") {
			continue // the hub functions' own calls (AssumeRole), the new key's verification, the test's admins
		}
		if action := c.Service + ":" + c.Action; !slices.Contains(localenv.MemberRoleActions, action) {
			t.Errorf("a member session called %s, which the keyrotor-target role does not list", action)
		}
	}
}

// firstFailure waits for arn's first failed attempt named name and returns its cause.
func firstFailure(t *testing.T, arn, name string) string {
	t.Helper()
	var cause string
	testutil.WaitFor(t, time.Minute, "a "+name+" in the history of "+arn, func() bool {
		out, err := env.SFN().GetExecutionHistory(context.Background(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range out.Events {
			if d := e.LambdaFunctionFailedEventDetails; d != nil && aws.ToString(d.Error) == name {
				cause = aws.ToString(d.Cause)
				return true
			}
		}
		return false
	})
	return cause
}

// IAM is eventually consistent: right after a role's trust or permissions change, AssumeRole of
// it or its sessions' calls may be refused for a while ("Changes that I make are not always
// immediately visible", IAM User Guide). A rotation started right after the member's
// keyrotor-target role changed, under a 5 s window of the proxy, succeeds: after a new trust
// policy the state machine retries AssumeRoleDenied, after a new permissions policy (AssumeRole
// still succeeds) MemberAccessDenied.
func TestRotationRightAfterTheMemberRoleChangesSurvivesIAMsDelay(t *testing.T) {
	ctx := context.Background()
	account := env.MemberAccountIDs()[0]
	admin, err := env.AccountConfig(account)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func() error
		want   string // the refusal the rotation met and survived
	}{
		{"new trust policy", func() error {
			trust, err := env.TargetTrustPolicy()
			if err != nil {
				return err
			}
			_, err = iam.NewFromConfig(admin).UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{
				RoleName: aws.String(rotation.TargetRoleName), PolicyDocument: aws.String(trust)})
			return err
		}, rotation.AssumeRoleDenied},
		{"new permissions policy", func() error { return env.SetMemberRoleActions(ctx, account, localenv.MemberRoleActions) },
			rotation.MemberAccessDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := fmt.Sprintf("consistency-%d", userSeq.Add(1))
			if _, err := env.CreateManagedUser(ctx, localenv.ManagedUser{Name: user, Keys: 1, Parameter: "/keyrotor/" + user, Account: account}); err != nil {
				t.Fatal(err)
			}
			env.Proxy.SetRoleDelay(5 * time.Second)
			t.Cleanup(func() { env.Proxy.SetRoleDelay(0) })
			if err := tc.change(); err != nil {
				t.Fatal(err)
			}
			arn := startRotation(t, map[string]any{"userName": user, "accountId": account, "graceSeconds": 0, "inactiveSeconds": 0})
			out := waitExecution(t, arn)
			if out.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("rotation right after the role changed: %s %s %s", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
			}
			if !strings.Contains(executionHistory(t, arn), tc.want) {
				t.Errorf("no %s in the history: the rotation never met the role's propagation window", tc.want)
			}
			consumerSecret(t, account, "/keyrotor/"+user, user)
		})
	}
}
