package faults

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keyrotor/keyrotor/internal/harness/invariants"
	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
)

// memberBenches is the engine with one member account, shared by the member-path tests.
var memberBenches struct{ b *Bench }

// memberBench returns the shared engine with one member account (its own moto).
func memberBench(t *testing.T) (*Bench, string) {
	t.Helper()
	benches.Lock()
	defer benches.Unlock()
	if memberBenches.b == nil {
		b, err := NewBench(ctxFor(t, 2*time.Minute), Options{FunctionTimeout: generalTimeout, Accounts: 1})
		if err != nil {
			t.Fatalf("start the local engine with a member account: %v", err)
		}
		memberBenches.b = b
		if benches.byTimeout == nil {
			benches.byTimeout = map[time.Duration]*Bench{}
		}
		benches.byTimeout[-1] = b // TestMain closes every bench
	}
	return memberBenches.b, memberBenches.b.Env.MemberAccountIDs()[0]
}

// The member-account path under faults of the role session itself (issue 15): AssumeRole
// denied or throttled, at the first step or mid-rotation, and a session that expires
// mid-rotation. Each run ends SUCCEEDED or FAILED with a named Error, the invariants hold in
// the member account (the parameter authenticates as the member's user, no unaccounted key,
// no secret in any history, log or recorded call), and the next rotation without faults ends
// clean (strict: every key held by a parameter version).
func TestMemberPathFaultsLeaveNoInvariantViolations(t *testing.T) {
	b, account := memberBench(t)
	for _, tc := range []struct {
		name string
		rule faultproxy.Rule
		// want is the execution's status and, when FAILED, its Error.
		wantStatus, wantError string
		// unchanged: the run changed nothing in the member account.
		unchanged bool
	}{
		{"AssumeRole denied at Begin fails closed", faultproxy.Rule{Service: "sts", Action: "AssumeRole", Fault: faultproxy.AccessDenied},
			"FAILED", rotation.AssumeRoleDenied, true},
		{"AssumeRole throttled at Begin is retried", faultproxy.Rule{Service: "sts", Action: "AssumeRole", Fault: faultproxy.Throttle, Times: 3},
			"SUCCEEDED", "", false},
		{"AssumeRole denied mid-rotation", faultproxy.Rule{Service: "sts", Action: "AssumeRole", Fault: faultproxy.AccessDenied, Skip: 1},
			"FAILED", "", false},
		{"AssumeRole throttled mid-rotation is retried", faultproxy.Rule{Service: "sts", Action: "AssumeRole", Fault: faultproxy.Throttle, Skip: 1, Times: 4},
			"SUCCEEDED", "", false},
		{"session expired at an IAM call mid-rotation is assumed anew", faultproxy.Rule{Service: "iam", Action: "ListAccessKeys", Fault: faultproxy.ExpiredToken, Skip: 1, Times: 1},
			"SUCCEEDED", "", false},
		{"session expired at an SSM call mid-rotation is assumed anew", faultproxy.Rule{Service: "ssm", Action: "PutParameter", Fault: faultproxy.ExpiredToken, Skip: 2, Times: 1},
			"SUCCEEDED", "", false},
		{"session expired at KMS while sealing is assumed anew", faultproxy.Rule{Service: "kms", Action: "Encrypt", Fault: faultproxy.ExpiredToken, Times: 1},
			"SUCCEEDED", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxFor(t, 3*time.Minute)
			withoutFaults(t, b)
			tg, err := b.NewTarget(ctx, "member-fault", Seed{Account: account})
			if err != nil {
				t.Fatal(err)
			}
			before, err := b.Checker.Snapshot(ctx, tg)
			if err != nil {
				t.Fatal(err)
			}
			b.Env.Proxy.AddRule(tc.rule)
			run, err := b.Rotate(ctx, "", Input(tg))
			b.Env.Proxy.ClearRules()
			if err != nil {
				t.Fatal(err)
			}
			if run.Status != tc.wantStatus || (tc.wantError != "" && run.Error != tc.wantError) {
				t.Errorf("ended %s %s (%s), want %s %s", run.Status, run.Error, run.Cause, tc.wantStatus, tc.wantError)
			}
			res, err := b.Checker.Check(ctx, tg, before, run.Outcome, invariants.Options{StaleLockHeals: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Violations) > 0 {
				t.Errorf("%d invariant violations after the faulted run:%s", len(res.Violations), describe(res.Violations))
			}
			if tc.unchanged && !before.Equal(res.After) {
				t.Errorf("the refused run changed the member account: %s", before.Diff(res.After))
			}
			// The next rotation, without faults, ends clean.
			nextRotationEndsClean(ctx, t, b, tg, before, res)
		})
	}
}

// Hostile inputs naming accounts change nothing, in the member account or the hub, and fail
// with a named Error.
func TestHostileMemberInputsChangeNothing(t *testing.T) {
	b, account := memberBench(t)
	ctx := ctxFor(t, 3*time.Minute)
	withoutFaults(t, b)
	victim, err := b.NewTarget(ctx, "member-victim", Seed{Account: account})
	if err != nil {
		t.Fatal(err)
	}
	unmanaged, err := b.NewTarget(ctx, "member-unmanaged", Seed{Account: account, Unmanaged: true})
	if err != nil {
		t.Fatal(err)
	}
	hubOnly, err := b.NewTarget(ctx, "hub-only", Seed{})
	if err != nil {
		t.Fatal(err)
	}
	targets := []invariants.Target{victim, unmanaged, hubOnly}
	snapshot := func() []invariants.State {
		var out []invariants.State
		for _, tg := range targets {
			st, err := b.Checker.Snapshot(ctx, tg)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, st)
		}
		return out
	}
	input := func(fields map[string]any) string {
		j, _ := json.Marshal(fields)
		return string(j)
	}
	for _, tc := range []struct {
		name, input, wantError string
	}{
		{"unlisted account", input(map[string]any{"userName": victim.UserName, "accountId": "999999999999", "graceSeconds": 0, "inactiveSeconds": 0}), rotation.AccountNotAllowed},
		{"the hub's own id", input(map[string]any{"userName": hubOnly.UserName, "accountId": localenv.AccountID, "graceSeconds": 0, "inactiveSeconds": 0}), rotation.AccountNotAllowed},
		{"malformed account id", input(map[string]any{"userName": victim.UserName, "accountId": "11111111111x"}), rotation.InvalidInput},
		{"account id as a number", `{"userName":"` + victim.UserName + `","accountId":111111111111}`, rotation.InvalidInput},
		{"a hub user named in the member", input(map[string]any{"userName": hubOnly.UserName, "accountId": account, "graceSeconds": 0, "inactiveSeconds": 0}), rotation.UserNotFound},
		{"an unmanaged member user", input(map[string]any{"userName": unmanaged.UserName, "accountId": account, "graceSeconds": 0, "inactiveSeconds": 0}), rotation.UserNotManaged},
		{"a member user with a step's field", input(map[string]any{"userName": victim.UserName, "accountId": account, "lockId": "x"}), rotation.InvalidInput},
		{"a member user's parameter named in the hub", input(map[string]any{"userName": victim.UserName, "parameterName": victim.ParameterName, "graceSeconds": 0, "inactiveSeconds": 0}), rotation.UserNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot()
			run, err := b.Rotate(ctx, "", tc.input)
			if err != nil {
				t.Fatal(err)
			}
			if run.Status != "FAILED" || run.Error != tc.wantError || run.Cause == "" {
				t.Errorf("ended %s %s (%s), want FAILED %s with a cause", run.Status, run.Error, run.Cause, tc.wantError)
			}
			after := snapshot()
			for i, tg := range targets {
				if !before[i].Equal(after[i]) {
					t.Errorf("%s (account %q) changed: %s", tg.UserName, tg.AccountID, before[i].Diff(after[i]))
				}
			}
		})
	}
}

// IAM is eventually consistent ("Changes that I make are not always immediately visible", IAM
// User Guide, Troubleshoot IAM): right after the member's keyrotor-target role gets a new
// permissions policy, the calls of its sessions are refused AccessDenied for a while
// (faultproxy.SetRoleDelay, on the bench's virtual clock). A window the retrier outlasts (about
// a minute: 2, 4, 8, 16, 30 s) is survived; one it does not, or a grant that is missing for
// good, fails the rotation closed with MemberAccessDenied naming the role and, for a missing
// grant, the action; every invariant holds (the parameter still authenticates, no
// unaccounted key) and the next rotation ends clean.
func TestMemberCallDeniedForGoodFailsClosedAndDelayedIsSurvived(t *testing.T) {
	b, account := memberBench(t)
	for _, tc := range []struct {
		name   string
		window time.Duration    // the role's propagation window after its new policy
		rule   *faultproxy.Rule // a grant missing for good
		want   string           // status
		cause  []string         // what the Cause names, when FAILED
	}{
		{"permissions propagating for 20 s", 20 * time.Second, nil, "SUCCEEDED", nil},
		{"permissions propagating for 10 minutes", 10 * time.Minute, nil, "FAILED", []string{"keyrotor-target role of account " + account}},
		{"kms:Decrypt missing when unsealing", 0, &faultproxy.Rule{Service: "kms", Action: "Decrypt", Fault: faultproxy.AccessDenied}, "FAILED",
			[]string{"kms:Decrypt", "keyrotor-target role of account " + account}},
		{"iam:CreateAccessKey missing", 0, &faultproxy.Rule{Service: "iam", Action: "CreateAccessKey", Fault: faultproxy.AccessDenied}, "FAILED",
			[]string{"iam:CreateAccessKey", "keyrotor-target role of account " + account}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxFor(t, 3*time.Minute)
			withoutFaults(t, b)
			tg, err := b.NewTarget(ctx, "member-denied", Seed{Account: account})
			if err != nil {
				t.Fatal(err)
			}
			before, err := b.Checker.Snapshot(ctx, tg)
			if err != nil {
				t.Fatal(err)
			}
			if tc.window > 0 {
				// The role's creation (its trust) is older than the window: only the new
				// permissions policy propagates.
				b.Clock.Advance(tc.window)
				b.Env.Proxy.SetRoleDelay(tc.window)
				t.Cleanup(func() { b.Env.Proxy.SetRoleDelay(0) })
				// The member's deployer puts the role's policy anew (as a re-applied member module).
				admin, err := b.Env.AccountConfig(account)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := iam.NewFromConfig(admin).PutRolePolicy(ctx, &iam.PutRolePolicyInput{
					RoleName: aws.String(rotation.TargetRoleName), PolicyName: aws.String(rotation.TargetRoleName),
					PolicyDocument: aws.String(localenv.TargetRolePolicy(localenv.MemberRoleActions)),
				}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.rule != nil {
				b.Env.Proxy.AddRule(*tc.rule)
			}
			run, err := b.Rotate(ctx, "", Input(tg))
			b.Env.Proxy.ClearRules()
			b.Env.Proxy.SetRoleDelay(0)
			if err != nil {
				t.Fatal(err)
			}
			history, _ := json.Marshal(run.History)
			if !strings.Contains(string(history), rotation.MemberAccessDenied) {
				t.Errorf("no %s in the history: the rotation met no refusal", rotation.MemberAccessDenied)
			}
			if run.Status != tc.want {
				t.Fatalf("ended %s %s (%s), want %s", run.Status, run.Error, run.Cause, tc.want)
			}
			if tc.want == "FAILED" && run.Error != rotation.MemberAccessDenied {
				t.Errorf("failed with %s (%s), want %s", run.Error, run.Cause, rotation.MemberAccessDenied)
			}
			for _, c := range tc.cause {
				if !strings.Contains(run.Cause, c) {
					t.Errorf("the Cause %q does not name %q", run.Cause, c)
				}
			}
			res, err := b.Checker.Check(ctx, tg, before, run.Outcome, invariants.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Violations) > 0 {
				t.Errorf("%d invariant violations after the run:%s", len(res.Violations), describe(res.Violations))
			}
			nextRotationEndsClean(ctx, t, b, tg, before, res)
		})
	}
}

// A member role whose trust policy does not admit the hub's function refuses its AssumeRole
// on the local engine as on AWS (moto checks no cross-account trust; the fault proxy evaluates
// it with iam-simulate): the rotation fails AssumeRoleDenied after its retries, changes nothing,
// and with the module's trust policy put back the next rotation succeeds. A trust policy
// without sts:TagSession (the member module before the per-function session tag) is refused
// too: every hub function tags its session.
func TestMemberRoleWhoseTrustDoesNotAdmitTheHubRefusesItLocally(t *testing.T) {
	b, account := memberBench(t)
	ctx := ctxFor(t, 3*time.Minute)
	admin, err := b.Env.AccountConfig(account)
	if err != nil {
		t.Fatal(err)
	}
	good, err := b.Env.TargetTrustPolicy()
	if err != nil {
		t.Fatal(err)
	}
	setTrust := func(t *testing.T, doc string) {
		t.Helper()
		if _, err := iam.NewFromConfig(admin).UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{
			RoleName: aws.String(rotation.TargetRoleName), PolicyDocument: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
	}
	hub := "arn:aws:iam::" + b.Env.Engine.AccountID + ":root"
	for _, tc := range []struct{ name, trust string }{
		{"trust naming another principal", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + hub + `"},` +
			`"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:PrincipalArn":"arn:aws:iam::` + b.Env.Engine.AccountID + `:role/someone-else"}}}]}`},
		{"trust without sts:TagSession", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + hub + `"},` +
			`"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"` + localenv.ExternalID + `"}}}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withoutFaults(t, b)
			tg, err := b.NewTarget(ctx, "member-trust", Seed{Account: account})
			if err != nil {
				t.Fatal(err)
			}
			before, err := b.Checker.Snapshot(ctx, tg)
			if err != nil {
				t.Fatal(err)
			}
			setTrust(t, tc.trust)
			run, err := b.Rotate(ctx, "", Input(tg))
			setTrust(t, good)
			if err != nil {
				t.Fatal(err)
			}
			if run.Status != "FAILED" || run.Error != rotation.AssumeRoleDenied || !strings.Contains(run.Cause, rotation.TargetRoleName) {
				t.Errorf("ended %s %s (%s), want FAILED %s naming the role", run.Status, run.Error, run.Cause, rotation.AssumeRoleDenied)
			}
			res, err := b.Checker.Check(ctx, tg, before, run.Outcome, invariants.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Violations) > 0 || !before.Equal(res.After) {
				t.Errorf("the refused run: %d violations%s; changed: %s", len(res.Violations), describe(res.Violations), before.Diff(res.After))
			}
			healed, err := b.Rotate(ctx, "", Input(tg))
			if err != nil {
				t.Fatal(err)
			}
			if healed.Status != "SUCCEEDED" {
				t.Errorf("with the module's trust policy back: %s %s %s", healed.Status, healed.Error, healed.Cause)
			}
		})
	}
}

// nextRotationEndsClean rotates tg again without faults after a faulted or refused run (whose
// check was res, from before): it must succeed and keep the strict invariants.
func nextRotationEndsClean(ctx context.Context, t *testing.T, b *Bench, tg invariants.Target, before invariants.State, res invariants.Result) {
	t.Helper()
	healed, err := b.Rotate(ctx, "", Input(tg))
	if err != nil {
		t.Fatal(err)
	}
	if healed.Status != "SUCCEEDED" {
		t.Fatalf("the next rotation ended %s %s: %s", healed.Status, healed.Error, healed.Cause)
	}
	strict, err := b.Checker.Check(ctx, tg, res.After, healed.Outcome, invariants.Options{Strict: true, Secrets: before.Secrets(), Adopts: res.StaleKey})
	if err != nil {
		t.Fatal(err)
	}
	if len(strict.Violations) > 0 {
		t.Errorf("%d invariant violations after the next rotation:%s", len(strict.Violations), describe(strict.Violations))
	}
}
