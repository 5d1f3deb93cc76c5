package leastprivilege

// Least privilege of the organization (issue 15): the hub engine's function roles may assume
// the keyrotor-target role of exactly the listed member accounts; the target role's trust
// policy admits those roles only with the external id; the target role and the member key
// allow the calls the runtime makes in a member account (internal/rotation/account.go) on
// managed users and the parameter prefix, and nothing beyond.
//
// AWS behaviour relied on, as iam-simulate evaluates it:
//   - A cross-account sts:AssumeRole needs both the caller's identity policy and the role's
//     trust policy to allow it (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
//   - sts:ExternalId is the ExternalId of the AssumeRole request, absent when none is passed
//     (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#ck_externalid).
//   - aws:PrincipalArn of a role session is the role's ARN, path included, not the session's
//     (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn):
//     iam-simulate does not derive it, so roleCall sets it as IAM would.
//   - Session tags (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html): an
//     AssumeRole with Tags also needs sts:TagSession, allowed by the caller's policy and the
//     role's trust policy; the request's tags are aws:RequestTag/<key> and aws:TagKeys there,
//     and the session's tags are aws:PrincipalTag/<key> of every call it makes, also of the
//     calls a service makes on its behalf (forward access sessions pass "session attributes":
//     https://docs.aws.amazon.com/IAM/latest/UserGuide/access_forward_access_sessions.html), so
//     SSM's KMS calls for a SecureString carry them. iam-simulate does not derive them either:
//     assumeTarget and memberCall set them as IAM would.
//   - KMS: a key's own account must be allowed by the key policy; kms:ViaService and the
//     encryption context PARAMETER_ARN are what SSM sends for a SecureString
//     (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html,
//     https://docs.aws.amazon.com/kms/latest/developerguide/services-parameter-store.html).

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

const (
	hubAccount     = "111122223333"
	memberA        = "444455556666"
	memberB        = "777788889999"
	unlisted       = "999900001111" // runs the member module for this hub, but is not listed
	externalID     = "keyrotor-org-7f3a9c"
	memberKeyID    = "5678abcd-12ab-34cd-56ef-1234567890ab"
	memberUserPath = "/keyrotor/"
)

// org is a hub engine listing members A and B, and the member module deployed in A, B and the
// unlisted account.
type org struct {
	root    string
	hub     deployed.Engine
	members map[string]deployed.Member
	// policies: the hub's function roles with their assume-target policy, each member's target
	// role with its policy, the trust policies (resource policies of the target roles) and the
	// member keys' policies, plus the test's own principals.
	policies Policies
	reader   string // a consumer role of member A, listed in its parameter_readers for parameter
}

func newOrg(t *testing.T) org {
	t.Helper()
	f := newFixture(t)
	o := org{root: f.engine.Root, hub: f.engine, members: map[string]deployed.Member{}}
	o.hub.MemberAccountIDs = []string{memberA, memberB}
	o.reader = "arn:aws:iam::" + memberA + ":role/reports-consumer"
	o.policies = Policies{Identity: map[string][]NamedPolicy{}, Resource: map[string]deployed.Document{}}
	assume, err := o.hub.AssumeTargetPolicy()
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range deployed.Functions {
		own, err := o.hub.FunctionPolicy(fn)
		if err != nil {
			t.Fatal(err)
		}
		o.policies.Identity[o.hub.RoleARN(fn)] = []NamedPolicy{{Name: fn, Document: own}, {Name: "assume-target", Document: assume}}
	}
	// The hub's secrets key, which no member role may use.
	hubKey, err := o.hub.SecretsKeyPolicy()
	if err != nil {
		t.Fatal(err)
	}
	o.policies.Resource[o.hub.KMSKeyARN()] = hubKey
	for _, account := range []string{memberA, memberB, unlisted} {
		m := deployed.Member{Root: o.root, HubAccountID: hubAccount, EngineName: o.hub.Name, ExternalID: externalID,
			Account: deployed.Account{Partition: "aws", Region: o.hub.Region, AccountID: account, ParameterPrefix: "/keyrotor/",
				UserPath: memberUserPath, KMSKeyID: memberKeyID}}
		if account == memberA {
			m.Readers = map[string][]string{o.reader: {parameter}}
		}
		o.members[account] = m
		for name, render := range map[string]func() (deployed.Document, error){"trust": m.TrustPolicy, "target": m.TargetPolicy, "member-key": m.KeyPolicy} {
			doc, err := render()
			if err != nil {
				t.Fatalf("member %s %s policy: %v", account, name, err)
			}
			switch name {
			case "trust":
				o.policies.Resource[m.TargetRoleARN()] = doc
			case "target":
				o.policies.Identity[m.TargetRoleARN()] = []NamedPolicy{{Name: "target-" + account, Document: doc}}
			case "member-key":
				o.policies.Resource[m.KMSKeyARN()] = doc
			}
		}
	}
	everything := deployed.Document{Version: "2012-10-17", Statement: []deployed.Statement{
		{Sid: "Everything", Effect: "Allow", Action: deployed.StringList{"*"}, Resource: deployed.StringList{"*"}},
	}}
	for _, admin := range []string{
		"arn:aws:iam::" + hubAccount + ":role/administrator",
		"arn:aws:iam::" + hubAccount + ":role/keyrotor-fleet",
		"arn:aws:iam::" + hubAccount + ":role/keyrotor-state-machine",
		"arn:aws:iam::" + unlisted + ":role/keyrotor-createkey", // a look-alike in another account
		"arn:aws:iam::" + memberA + ":role/administrator",
	} {
		o.policies.Identity[admin] = []NamedPolicy{{Name: "administrator", Document: everything}}
	}
	o.policies.Identity[o.reader] = []NamedPolicy{{Name: "consumer", Document: deployed.Document{Version: "2012-10-17", Statement: []deployed.Statement{
		{Sid: "ReadEverything", Effect: "Allow", Action: deployed.StringList{"ssm:GetParameter", "kms:Decrypt"}, Resource: deployed.StringList{"*"}},
	}}}}
	return o
}

// roleCall is a call by a session of role, with aws:PrincipalArn as IAM sets it for a role
// session (the role's ARN).
func roleCall(role, action, resource string, context map[string][]string) Call {
	c := Call{Principal: role, Action: action, Resource: resource, Context: map[string][]string{"aws:PrincipalArn": {role}}}
	for k, v := range context {
		c.Context[k] = v
	}
	return c
}

// assumeTarget is the AssumeRole of account's target role by role with the external id and
// the session tag keyrotor:function=tag ("": neither, as passed).
func assumeTarget(role, account, extID, tag string) Call {
	ctx := map[string][]string{"sts:RoleSessionName": {"exec-1"}}
	if extID != "" {
		ctx["sts:ExternalId"] = []string{extID}
	}
	if tag != "" {
		ctx["aws:RequestTag/"+rotation.FunctionTagKey] = []string{tag}
		ctx["aws:TagKeys"] = []string{rotation.FunctionTagKey}
	}
	return roleCall(role, "sts:AssumeRole", rotation.TargetRoleARN("aws", account), ctx)
}

// tagSession is the sts:TagSession that the same AssumeRole needs for its tags (keyrotor's
// function tag, plus any extra keys).
func tagSession(role, account, tag string, extra ...string) Call {
	ctx := map[string][]string{"aws:RequestTag/" + rotation.FunctionTagKey: {tag}, "aws:TagKeys": append([]string{rotation.FunctionTagKey}, extra...)}
	for _, k := range extra {
		ctx["aws:RequestTag/"+k] = []string{"x"}
	}
	return roleCall(role, "sts:TagSession", rotation.TargetRoleARN("aws", account), ctx)
}

// hubFunction is the function a hub role of the engine "keyrotor" serves (its tag value).
func hubFunction(role string) string {
	return strings.TrimPrefix(role[strings.LastIndex(role, "/")+1:], "keyrotor-")
}

// memberCall is a call by the target role's session that the hub function fn assumed: its
// aws:PrincipalTag/keyrotor:function is fn ("": an untagged session).
func memberCall(target, fn, action, resource string, context map[string][]string) Call {
	c := roleCall(target, action, resource, context)
	if fn != "" {
		c.Context["aws:PrincipalTag/"+rotation.FunctionTagKey] = []string{fn}
	}
	return c
}

func (o org) evaluate(t *testing.T, calls []Call) []Decision {
	t.Helper()
	ev, err := NewEvaluator(o.root)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ev.Evaluate(context.Background(), calls, o.policies)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type allowCase struct {
	name    string
	call    Call
	allowed bool
}

func (o org) run(t *testing.T, tests []allowCase) []Decision {
	t.Helper()
	calls := make([]Call, len(tests))
	for i, tt := range tests {
		calls[i] = tt.call
	}
	decisions := o.evaluate(t, calls)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decisions[i].Allowed(); got != tt.allowed {
				t.Errorf("%s %s on %s (context %v): %s, want allowed = %v", tt.call.Principal, tt.call.Action, tt.call.Resource, tt.call.Context, decisions[i].Result, tt.allowed)
			}
		})
	}
	return decisions
}

// The hub may act only in listed accounts: even an account whose target role trusts the hub
// (it deployed the member module) cannot be entered unless the engine lists it.
func TestHubFunctionRolesAssumeTheTargetRoleOfListedMembersOnly(t *testing.T) {
	o := newOrg(t)
	var tests []allowCase
	for _, fn := range deployed.Functions {
		role := o.hub.RoleARN(fn)
		tests = append(tests,
			allowCase{fn + " assumes member A's target role", assumeTarget(role, memberA, externalID, fn), true},
			allowCase{fn + " tags its session in member A", tagSession(role, memberA, fn), true},
			allowCase{fn + " assumes member B's target role", assumeTarget(role, memberB, externalID, fn), true},
			allowCase{fn + " cannot assume the target role of an unlisted account that trusts the hub", assumeTarget(role, unlisted, externalID, fn), false},
			allowCase{fn + " cannot tag a session of an unlisted account's target role", tagSession(role, unlisted, fn), false},
		)
	}
	createkey := o.hub.RoleARN("createkey")
	tests = append(tests,
		allowCase{"createkey cannot assume another role of a listed member", roleCall(createkey, "sts:AssumeRole", "arn:aws:iam::"+memberA+":role/OrganizationAccountAccessRole", map[string][]string{"sts:ExternalId": {externalID}}), false},
		allowCase{"createkey cannot assume a keyrotor-target role outside the /keyrotor/ path", roleCall(createkey, "sts:AssumeRole", "arn:aws:iam::"+memberA+":role/keyrotor-target", map[string][]string{"sts:ExternalId": {externalID}}), false},
		allowCase{"createkey cannot assume a role of its own account", roleCall(createkey, "sts:AssumeRole", "arn:aws:iam::"+hubAccount+":role/keyrotor/keyrotor-target", map[string][]string{"sts:ExternalId": {externalID}}), false},
	)
	decisions := o.run(t, tests)
	everyStatementNeeded(t, decisions, o.policies, func(s StatementRef) bool { return s.Policy == "assume-target" })
}

// Without member accounts the engine attaches no assume-target policy: its roles cannot
// assume any member's role, trusted or not.
func TestHubWithoutMemberAccountsAssumesNoTargetRole(t *testing.T) {
	o := newOrg(t)
	for _, fn := range deployed.Functions {
		o.policies.Identity[o.hub.RoleARN(fn)] = o.policies.Identity[o.hub.RoleARN(fn)][:1]
	}
	var tests []allowCase
	for _, fn := range deployed.Functions {
		tests = append(tests, allowCase{fn + " in member A", assumeTarget(o.hub.RoleARN(fn), memberA, externalID, fn), false})
	}
	o.run(t, tests)
}

func TestTargetRoleTrustAdmitsOnlyTheHubFunctionRolesWithTheExternalID(t *testing.T) {
	o := newOrg(t)
	createkey := o.hub.RoleARN("createkey")
	targetB := rotation.TargetRoleARN("aws", memberB)
	// Member B's target role, given every permission here so that only A's trust decides.
	o.policies.Identity[targetB] = []NamedPolicy{{Name: "administrator", Document: deployed.Document{Version: "2012-10-17", Statement: []deployed.Statement{
		{Sid: "Everything", Effect: "Allow", Action: deployed.StringList{"*"}, Resource: deployed.StringList{"*"}},
	}}}}
	var tests []allowCase
	for _, fn := range deployed.Functions {
		tests = append(tests,
			allowCase{fn + " with the external id and its own tag", assumeTarget(o.hub.RoleARN(fn), memberA, externalID, fn), true},
			allowCase{fn + " tags its session with its own name", tagSession(o.hub.RoleARN(fn), memberA, fn), true},
		)
	}
	storeparam := rotation.StoreParamFunction
	tests = append(tests,
		allowCase{"a hub function without an external id", assumeTarget(createkey, memberA, "", "createkey"), false},
		allowCase{"a hub function with a wrong external id", assumeTarget(createkey, memberA, "keyrotor-org-other", "createkey"), false},
		allowCase{"a hub function with the external id in another case", assumeTarget(createkey, memberA, strings.ToUpper(externalID), "createkey"), false},
		allowCase{"a hub function without its session tag", assumeTarget(createkey, memberA, externalID, ""), false},
		// The seal split: no other function can have a session that storeparam's grants serve.
		allowCase{"createkey assumes with storeparam's tag", assumeTarget(createkey, memberA, externalID, storeparam), false},
		allowCase{"createkey tags its session as storeparam", tagSession(createkey, memberA, storeparam), false},
		allowCase{"verifykey tags its session as storeparam", tagSession(o.hub.RoleARN("verifykey"), memberA, storeparam), false},
		allowCase{"createkey tags its session with a wildcard", tagSession(createkey, memberA, "*"), false},
		allowCase{"createkey assumes with a wildcard tag", assumeTarget(createkey, memberA, externalID, "*"), false},
		allowCase{"createkey adds a tag key of its own", tagSession(createkey, memberA, "createkey", "team"), false},
		allowCase{"a hub administrator with the external id", assumeTarget("arn:aws:iam::"+hubAccount+":role/administrator", memberA, externalID, "createkey"), false},
		allowCase{"a hub administrator tagging as storeparam", tagSession("arn:aws:iam::"+hubAccount+":role/administrator", memberA, storeparam), false},
		allowCase{"the hub's fleet state machine role", assumeTarget("arn:aws:iam::"+hubAccount+":role/keyrotor-fleet", memberA, externalID, "fleet"), false},
		allowCase{"the hub's rotation state machine role", assumeTarget("arn:aws:iam::"+hubAccount+":role/keyrotor-state-machine", memberA, externalID, "state-machine"), false},
		allowCase{"a role named like a hub function in another account", assumeTarget("arn:aws:iam::"+unlisted+":role/keyrotor-createkey", memberA, externalID, "createkey"), false},
		allowCase{"another member's target role", assumeTarget(targetB, memberA, externalID, "createkey"), false},
	)
	o.run(t, tests)
}

// memberCalls are the calls the runtime makes in member A through its target role
// (internal/rotation/account.go lists them): Begin, Create, Store, Restore, Verify,
// Deactivate, Delete, Rollback, Release, the trigger's removal and listusers' listing; plus a
// consumer of A reading its key and A's administrator administering the member key.
func (o org) memberCalls() []Call {
	m := o.members[memberA]
	target := m.TargetRoleARN()
	user, key := m.UserARN(managedUser), m.KMSKeyARN()
	tag := map[string][]string{"iam:ResourceTag/keyrotor:managed": {"true"}, "aws:ResourceTag/keyrotor:managed": {"true"}}
	seal := map[string][]string{
		"kms:EncryptionContext:user":        {managedUser},
		"kms:EncryptionContext:accessKeyId": {newKey},
		"kms:EncryptionContext:execution":   {o.hub.ExecutionARN("exec-1")},
		"kms:EncryptionContextKeys":         {"accessKeyId", "execution", "user"},
	}
	viaSSM := func(name string) map[string][]string {
		return map[string][]string{
			"kms:ViaService":                      {"ssm." + m.Region + ".amazonaws.com"},
			"kms:CallerAccount":                   {memberA},
			"kms:EncryptionContext:PARAMETER_ARN": {m.ParameterARN(name)},
			"kms:EncryptionContextKeys":           {"PARAMETER_ARN"},
		}
	}
	const (
		createkey, storeparam, verifykey  = rotation.CreateKeyFunction, rotation.StoreParamFunction, rotation.VerifyKeyFunction
		deleteoldkeys, trigger, listusers = rotation.DeleteOldKeysFunction, rotation.TriggerFunction, rotation.ListUsersFunction
	)
	var calls []Call
	for _, a := range []string{"iam:ListUserTags", "iam:GetUser"} {
		calls = append(calls, memberCall(target, createkey, a, user, tag))
	}
	calls = append(calls, memberCall(target, listusers, "iam:ListUsers", "*", nil))
	for _, c := range []struct{ fn, action string }{
		{createkey, "iam:ListAccessKeys"}, {createkey, "iam:CreateAccessKey"}, {deleteoldkeys, "iam:UpdateAccessKey"},
		{deleteoldkeys, "iam:DeleteAccessKey"}, {deleteoldkeys, "iam:GetAccessKeyLastUsed"},
	} {
		calls = append(calls, memberCall(target, c.fn, c.action, user, tag))
	}
	for _, a := range []string{"ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"} {
		calls = append(calls, memberCall(target, createkey, a, m.ParameterARN(lockParameter), nil))
	}
	for _, c := range []struct{ fn, action string }{
		{verifykey, "ssm:GetParameter"}, {storeparam, "ssm:GetParameterHistory"}, {storeparam, "ssm:PutParameter"},
		{trigger, "ssm:DeleteParameter"}, {storeparam, "ssm:AddTagsToResource"}, {createkey, "ssm:ListTagsForResource"},
	} {
		calls = append(calls, memberCall(target, c.fn, c.action, m.ParameterARN(parameter), nil))
	}
	calls = append(calls,
		memberCall(target, createkey, "kms:Encrypt", key, seal),               // createkey seals
		memberCall(target, storeparam, "kms:Decrypt", key, seal),              // storeparam unseals
		memberCall(target, storeparam, "kms:Encrypt", key, viaSSM(parameter)), // storeparam writes the SecureString
		memberCall(target, storeparam, "kms:Decrypt", key, viaSSM(parameter)), // restore reads the previous version
		memberCall(target, verifykey, "kms:Decrypt", key, viaSSM(parameter)),  // verifykey reads it as a consumer
		Call{Principal: o.reader, Action: "ssm:GetParameter", Resource: m.ParameterARN(parameter), Note: "consumer"},
		Call{Principal: o.reader, Action: "kms:Decrypt", Resource: key, Context: viaSSM(parameter), Note: "consumer, via SSM"},
		Call{Principal: "arn:aws:iam::" + memberA + ":role/administrator", Action: "kms:DescribeKey", Resource: key, Note: "deployer"},
	)
	for i := range calls {
		if calls[i].Note == "" {
			calls[i].Note = "target"
		}
	}
	return calls
}

func TestTargetRoleMayMakeEveryCallTheRuntimeMakesInAMember(t *testing.T) {
	o := newOrg(t)
	calls := o.memberCalls()
	decisions := o.evaluate(t, calls)
	for _, d := range decisions {
		if !d.Allowed() {
			t.Errorf("%s: %s on %s (context %v) is %s", d.Call.Note, d.Call.Action, d.Call.Resource, d.Call.Context, d.Result)
		}
	}
	// Every statement of A's target policy and A's key policy decides a call, and every action
	// it lists is needed.
	keyARN := o.members[memberA].KMSKeyARN()
	p := Policies{Identity: map[string][]NamedPolicy{o.members[memberA].TargetRoleARN(): o.policies.Identity[o.members[memberA].TargetRoleARN()]},
		Resource: map[string]deployed.Document{keyARN: o.policies.Resource[keyARN]}}
	everyStatementNeeded(t, decisions, p, allStatements)
	if t.Failed() {
		var table strings.Builder
		for _, d := range decisions {
			fmt.Fprintf(&table, "| %s | %s | %s | %s | %s |\n", d.Call.Note, d.Call.Action, d.Call.Resource, d.Result, refs(d.Decisive))
		}
		t.Log("\n" + table.String())
	}
}

func TestTargetRoleIsDeniedOutsideManagedUsersThePrefixAndTheMemberKey(t *testing.T) {
	o := newOrg(t)
	m := o.members[memberA]
	target := m.TargetRoleARN()
	key := m.KMSKeyARN()
	managed := map[string][]string{"iam:ResourceTag/keyrotor:managed": {"true"}, "aws:ResourceTag/keyrotor:managed": {"true"}}
	unmanaged := map[string][]string{"iam:ResourceTag/team": {"payments"}, "aws:ResourceTag/team": {"payments"}}
	alice := m.UserARN(unmanagedUser)
	seal := func(execution string) map[string][]string {
		return map[string][]string{
			"kms:EncryptionContext:user":        {managedUser},
			"kms:EncryptionContext:accessKeyId": {newKey},
			"kms:EncryptionContext:execution":   {execution},
			"kms:EncryptionContextKeys":         {"accessKeyId", "execution", "user"},
		}
	}
	viaSSM := func(parameterARN string) map[string][]string {
		return map[string][]string{
			"kms:ViaService":                      {"ssm." + m.Region + ".amazonaws.com"},
			"kms:CallerAccount":                   {memberA},
			"kms:EncryptionContext:PARAMETER_ARN": {parameterARN},
			"kms:EncryptionContextKeys":           {"PARAMETER_ARN"},
		}
	}
	otherKey := "arn:aws:kms:" + m.Region + ":" + memberA + ":key/0000aaaa-12ab-34cd-56ef-1234567890ab"
	tests := []allowCase{}
	for _, a := range []string{"iam:ListAccessKeys", "iam:CreateAccessKey", "iam:UpdateAccessKey", "iam:DeleteAccessKey", "iam:GetAccessKeyLastUsed"} {
		tests = append(tests,
			allowCase{a + " on a user without keyrotor:managed=true", roleCall(target, a, alice, unmanaged), false},
			allowCase{a + " on a tagged user outside the managed path", roleCall(target, a, "arn:aws:iam::"+memberA+":user/people/"+managedUser, managed), false},
			allowCase{a + " on a managed user of another member", roleCall(target, a, "arn:aws:iam::"+memberB+":user"+memberUserPath+managedUser, managed), false},
		)
	}
	tests = append(tests,
		// no way to make a user managed, or to give it rights
		allowCase{"iam:TagUser on an unmanaged user", roleCall(target, "iam:TagUser", alice, unmanaged), false},
		allowCase{"iam:PutUserPolicy on a managed user", roleCall(target, "iam:PutUserPolicy", m.UserARN(managedUser), managed), false},
		allowCase{"iam:CreateUser", roleCall(target, "iam:CreateUser", m.UserARN("new-user"), nil), false},
		// other parameters
		allowCase{"ssm:PutParameter outside the prefix", roleCall(target, "ssm:PutParameter", m.ParameterARN(foreignParam), nil), false},
		allowCase{"ssm:GetParameter outside the prefix", roleCall(target, "ssm:GetParameter", m.ParameterARN(foreignParam), nil), false},
		allowCase{"ssm:DeleteParameter of a path that merely starts like the prefix", roleCall(target, "ssm:DeleteParameter", m.ParameterARN("/keyrotor-other/x.lock"), nil), false},
		allowCase{"ssm:PutParameter under the prefix in another member", roleCall(target, "ssm:PutParameter", o.members[memberB].ParameterARN(parameter), nil), false},
		allowCase{"ssm:PutParameter under the prefix in the hub", roleCall(target, "ssm:PutParameter", o.hub.ParameterARN(parameter), nil), false},
		// the member key only as the seal and for parameters under the prefix
		allowCase{"kms:Decrypt via SSM of a parameter outside the prefix", roleCall(target, "kms:Decrypt", key, viaSSM(m.ParameterARN(foreignParam))), false},
		allowCase{"kms:Decrypt with a parameter context but not via SSM", roleCall(target, "kms:Decrypt", key, map[string][]string{
			"kms:EncryptionContext:PARAMETER_ARN": {m.ParameterARN(parameter)}, "kms:EncryptionContextKeys": {"PARAMETER_ARN"}}), false},
		allowCase{"kms:Encrypt of a seal for another state machine's execution", roleCall(target, "kms:Encrypt", key, seal("arn:aws:states:"+m.Region+":"+hubAccount+":execution:payments:x")), false},
		allowCase{"kms:Decrypt of a seal naming an execution of another account", roleCall(target, "kms:Decrypt", key, seal("arn:aws:states:"+m.Region+":"+memberB+":execution:keyrotor-rotate:x")), false},
		allowCase{"kms:Encrypt with an extra encryption context key", roleCall(target, "kms:Encrypt", key, map[string][]string{
			"kms:EncryptionContext:execution": {o.hub.ExecutionARN("exec-1")}, "kms:EncryptionContext:purpose": {"anything"}, "kms:EncryptionContextKeys": {"execution", "purpose"}}), false},
		allowCase{"kms:Encrypt without an encryption context", roleCall(target, "kms:Encrypt", key, nil), false},
		allowCase{"kms:Decrypt with another key of the member", roleCall(target, "kms:Decrypt", otherKey, seal(o.hub.ExecutionARN("exec-1"))), false},
		allowCase{"kms:Decrypt with member B's key", roleCall(target, "kms:Decrypt", o.members[memberB].KMSKeyARN(), seal(o.hub.ExecutionARN("exec-1"))), false},
		allowCase{"kms:Decrypt with the hub's secrets key", roleCall(target, "kms:Decrypt", o.hub.KMSKeyARN(), seal(o.hub.ExecutionARN("exec-1"))), false},
		allowCase{"kms:ReEncryptFrom on the member key", roleCall(target, "kms:ReEncryptFrom", key, seal(o.hub.ExecutionARN("exec-1"))), false},
		// no Step Functions in the member: the hub checks its executions with its own roles
		allowCase{"states:DescribeExecution of the hub's execution", roleCall(target, "states:DescribeExecution", o.hub.ExecutionARN("exec-1"), nil), false},
		allowCase{"states:StartExecution of the hub's state machine", roleCall(target, "states:StartExecution", o.hub.StateMachineARN(), nil), false},
		// the member's own principals and the hub's roles cannot use the seal
		allowCase{"member A's administrator unseals", Call{Principal: "arn:aws:iam::" + memberA + ":role/administrator", Action: "kms:Decrypt", Resource: key, Context: seal(o.hub.ExecutionARN("exec-1"))}, false},
		allowCase{"the hub's storeparam role unseals with the member key directly", roleCall(o.hub.RoleARN("storeparam"), "kms:Decrypt", key, seal(o.hub.ExecutionARN("exec-1"))), false},
		// a consumer decrypts only the parameters it is listed for
		allowCase{"the consumer decrypts another parameter", Call{Principal: o.reader, Action: "kms:Decrypt", Resource: key, Context: viaSSM(m.ParameterARN(otherParameter))}, false},
	)
	o.run(t, tests)
}

// The target policy allows exactly the actions of the runtime's member calls (the list in
// internal/rotation/account.go): none more, so no statement is there "just in case".
func TestTargetPolicyAllowsExactlyTheActionsOfTheRuntimesMemberCalls(t *testing.T) {
	o := newOrg(t)
	var actions []string
	for _, c := range o.memberCalls() {
		if c.Note == "target" && !slices.Contains(actions, c.Action) {
			actions = append(actions, c.Action)
		}
	}
	doc, err := o.members[memberA].TargetPolicy()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(actions)
	if got := doc.AllowedActions(); !slices.Equal(got, actions) {
		t.Errorf("the target policy allows %v, the runtime's member calls are %v", got, actions)
	}
}

// The seal split holds in a member account (issue 24): the member's keyrotor-target role serves
// every hub function, but each session carries its function's tag, which only that function's
// role can set (TestTargetRoleTrustAdmitsOnlyTheHubFunctionRolesWithTheExternalID). By the
// target policy and the member key's policy together, only storeparam's session unseals the new
// secret or writes the SecureString, only verifykey's and storeparam's read the parameter (a
// consumer's read, and restore's), and only createkey's seals. An untagged session uses the key
// for nothing.
func TestOnlyTheStoreParamSessionUnsealsInAMember(t *testing.T) {
	o := newOrg(t)
	m := o.members[memberA]
	target, key := m.TargetRoleARN(), m.KMSKeyARN()
	seal := map[string][]string{
		"kms:EncryptionContext:user":        {managedUser},
		"kms:EncryptionContext:accessKeyId": {newKey},
		"kms:EncryptionContext:execution":   {o.hub.ExecutionARN("exec-1")},
		"kms:EncryptionContextKeys":         {"accessKeyId", "execution", "user"},
	}
	viaSSM := map[string][]string{
		"kms:ViaService":                      {"ssm." + m.Region + ".amazonaws.com"},
		"kms:CallerAccount":                   {memberA},
		"kms:EncryptionContext:PARAMETER_ARN": {m.ParameterARN(parameter)},
		"kms:EncryptionContextKeys":           {"PARAMETER_ARN"},
	}
	var tests []allowCase
	for _, fn := range append(slices.Clone(deployed.Functions), "") {
		who := fn + "'s session"
		if fn == "" {
			who = "an untagged session"
		}
		tests = append(tests,
			allowCase{who + " unseals the new secret", memberCall(target, fn, "kms:Decrypt", key, seal), fn == rotation.StoreParamFunction},
			allowCase{who + " seals a new secret", memberCall(target, fn, "kms:Encrypt", key, seal), fn == rotation.CreateKeyFunction},
			allowCase{who + " writes the SecureString", memberCall(target, fn, "kms:Encrypt", key, viaSSM), fn == rotation.StoreParamFunction},
			allowCase{who + " decrypts the parameter", memberCall(target, fn, "kms:Decrypt", key, viaSSM),
				fn == rotation.StoreParamFunction || fn == rotation.VerifyKeyFunction},
		)
	}
	o.run(t, tests)
}
