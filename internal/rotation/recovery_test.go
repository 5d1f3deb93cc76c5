package rotation_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/keyrotor/keyrotor/internal/lambdamain"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
)

func TestEveryStepRunTwiceYieldsOneKeyAndOneParameterVersion(t *testing.T) {
	f := newFixture(t)
	f.userWithKey()
	exec := f.execution()
	r := rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}}
	for _, action := range []string{"begin", "create", "store", "verify", "deactivate", "delete"} {
		first := f.mustRun(action, exec, r)
		second := f.mustRun(action, exec, r) // the same input again, as a Retry sends it
		a, _ := json.Marshal(first)
		b, _ := json.Marshal(second)
		if action != "verify" && string(a) != string(b) { // verify stamps the time
			t.Errorf("%s run twice differs:\n%s\n%s", action, a, b)
		}
		r = second
	}
	if got := f.keys(); len(got) != 1 || got[r.NewAccessKeyID] != iamtypes.StatusTypeActive {
		t.Errorf("keys = %v, want only %s", got, r.NewAccessKeyID)
	}
	if _, v := f.parameter(); v != 2 || r.ParameterVersion != 2 || r.PreviousParameterVersion != 1 {
		t.Errorf("parameter at version %d (doc says %d, previous %d), want 2 after the seed's 1", v, r.ParameterVersion, r.PreviousParameterVersion)
	}
	if f.lockHeld() {
		t.Error("lock still held")
	}
}

func TestCreateAfterLostCreateAccessKeyAnswerLeavesOneKey(t *testing.T) {
	f := newFixture(t)
	f.createUser()
	exec := f.execution()
	r := f.mustRun("begin", exec, rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}})

	// IAM creates the key but the answer is lost: the step fails and the secret is gone.
	world.proxy.AddRule(faultproxy.Rule{Service: "iam", Action: "CreateAccessKey", Fault: faultproxy.ServerError, AfterBackend: true, Times: 1})
	t.Cleanup(world.proxy.ClearRules)
	_, err := f.run("create", exec, r)
	if errorName(err) != rotation.ServiceUnavailable {
		t.Fatalf("create with lost answer: %v, want ServiceUnavailable", err)
	}
	if n := len(f.keys()); n != 1 {
		t.Fatalf("the lost key should exist in IAM; keys = %d", n)
	}
	r = f.mustRun("create", exec, r) // the state machine's Retry
	if got := f.keys(); len(got) != 1 || got[r.NewAccessKeyID] == "" {
		t.Fatalf("keys after retried create = %v, want only %s", got, r.NewAccessKeyID)
	}
	for _, action := range []string{"store", "verify", "deactivate", "delete"} {
		r = f.mustRun(action, exec, r)
	}
	if got := f.keys(); len(got) != 1 {
		t.Errorf("keys after rotation = %v", got)
	}
}

func TestVerifyRetriesThroughPropagationDelay(t *testing.T) {
	f := newFixture(t)
	f.createUser()
	world.proxy.SetPropagationDelay(5 * time.Second)
	t.Cleanup(func() { world.proxy.SetPropagationDelay(0) })
	exec := f.execution()
	r := rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}}
	for _, action := range []string{"begin", "create", "store"} {
		r = f.mustRun(action, exec, r)
	}
	// As the state machine's Retry on KeyNotYetValid does, with a fixed 1 s interval.
	var notYet int
	for {
		out, err := f.run("verify", exec, r)
		if err == nil {
			r = out
			break
		}
		if errorName(err) != rotation.KeyNotYetValid {
			t.Fatalf("verify: %v, want success or KeyNotYetValid", err)
		}
		if notYet++; notYet > 20 {
			t.Fatal("key never became valid")
		}
		time.Sleep(time.Second)
	}
	if notYet == 0 {
		t.Error("verify never saw the key refused; the propagation delay was not exercised")
	}
	if r.VerifiedAt == "" {
		t.Error("verifiedAt not set")
	}
	var refused int
	for _, c := range world.proxy.Calls() {
		if c.Service == "sts" && c.AccessKeyID == r.NewAccessKeyID && c.ErrorCode == "InvalidClientTokenId" {
			refused++
		}
	}
	if refused != notYet {
		t.Errorf("proxy refused %d sts calls with the new key, verify reported KeyNotYetValid %d times", refused, notYet)
	}
	t.Logf("KeyNotYetValid %d times before success", notYet)
}

func TestWrongSecretFailsVerificationAndRollbackRestores(t *testing.T) {
	f := newFixture(t)
	f.steps.Config.PropagationWindow = 0 // the key is past propagation: a refusal means a wrong secret
	old, oldSecret := f.userWithKey()
	oldValue, _ := f.parameter()
	exec := f.execution()
	r := rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}}
	for _, action := range []string{"begin", "create", "store"} {
		r = f.mustRun(action, exec, r)
	}
	_, newSecret := f.storedSecret()
	// Someone overwrites the new key's secret with a wrong one.
	wrong, _ := json.Marshal(map[string]string{"AccessKeyId": r.NewAccessKeyID, "SecretAccessKey": strings.Repeat("x", 40)})
	f.putParameter(string(wrong), "keyrotor:"+r.NewAccessKeyID)

	_, err := f.run("verify", exec, r)
	if errorName(err) != rotation.VerificationFailed {
		t.Fatalf("verify: %v, want VerificationFailed", err)
	}
	r.Error = &rotation.CaughtError{Error: rotation.VerificationFailed, Cause: lambdaCause(err)}
	r = f.mustRun("restore", exec, r)
	r = f.mustRun("rollback", exec, r)

	if value, _ := f.parameter(); value != oldValue {
		t.Error("parameter does not hold the previous value after restore")
	}
	if got := f.keys(); len(got) != 1 || got[old] != iamtypes.StatusTypeActive {
		t.Errorf("keys after rollback = %v, want only the old key %s active", got, old)
	}
	if f.lockHeld() {
		t.Error("lock still held after rollback")
	}
	if r.Failure == nil || r.Failure.Error != rotation.VerificationFailed ||
		!strings.Contains(r.Failure.Cause, "Deleted the new key "+r.NewAccessKeyID) ||
		!strings.Contains(r.Failure.Cause, "holds key "+old) || strings.Contains(r.Failure.Cause, "errorMessage") {
		t.Errorf("failure = %+v", r.Failure)
	}
	f.assertSecretNowhere(newSecret)
	f.assertSecretNowhere(oldSecret)
}

func TestRollbackAfterFailedStoreDeletesNewKeyAndParameterStaysAbsent(t *testing.T) {
	f := newFixture(t)
	f.createUser()
	exec := f.execution()
	r := rotation.Rotation{Input: rotation.Input{UserName: f.user}}
	for _, action := range []string{"begin", "create"} {
		r = f.mustRun(action, exec, r)
	}
	world.proxy.AddRule(faultproxy.Rule{Service: "kms", Action: "Decrypt", Fault: faultproxy.AccessDenied})
	_, err := f.run("store", exec, r)
	world.proxy.ClearRules()
	if errorName(err) != rotation.AccessDenied || !strings.Contains(err.Error(), "kms:Decrypt") {
		t.Fatalf("store: %v, want AccessDenied naming kms:Decrypt", err)
	}
	r.Error = &rotation.CaughtError{Error: rotation.AccessDenied, Cause: lambdaCause(err)}
	r = f.mustRun("restore", exec, r)
	r = f.mustRun("rollback", exec, r)
	if got := f.keys(); len(got) != 0 {
		t.Errorf("keys after rollback = %v, want none", got)
	}
	if _, v := f.parameter(); v != 0 || f.lockHeld() {
		t.Errorf("parameter version %d, lock held %v; want neither", v, f.lockHeld())
	}
	if !strings.Contains(r.Failure.Cause, "grant kms:Decrypt") {
		t.Errorf("cause does not say what to grant: %s", r.Failure.Cause)
	}
}

func TestRestoreDeletesParameterThisRotationCreated(t *testing.T) {
	f := newFixture(t)
	f.createUser()
	exec := f.execution()
	r := rotation.Rotation{Input: rotation.Input{UserName: f.user}}
	for _, action := range []string{"begin", "create", "store"} {
		r = f.mustRun(action, exec, r)
	}
	r = f.mustRun("restore", exec, r)
	if _, v := f.parameter(); v != 0 {
		t.Errorf("parameter still exists at version %d", v)
	}
	r.Error = &rotation.CaughtError{Error: "States.Timeout", Cause: "Task timed out"}
	r = f.mustRun("rollback", exec, r)
	if len(f.keys()) != 0 || r.Failure.Error != "States.Timeout" || !strings.Contains(r.Failure.Cause, "Task timed out") {
		t.Errorf("keys %v, failure %+v", f.keys(), r.Failure)
	}
}

func TestLock(t *testing.T) {
	stop := (*fixture).stop
	tests := []struct {
		name      string
		holder    func(f *fixture) string // execution holding the lock before the second begins
		afterHold func(f *fixture, holder string)
		wantName  string // "" = the second execution gets the lock
	}{
		{"a running rotation refuses a second one", (*fixture).execution, nil, rotation.RotationInProgress},
		{"a stopped holder's lock is broken", (*fixture).execution, stop, ""},
		{"a holder that never existed is broken", func(*fixture) string {
			return "arn:aws:states:us-east-1:123456789012:execution:keyrotor-rotate:gone"
		}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.createUser()
			holder := tt.holder(f)
			if _, named := pending[holder]; named || holder != "arn:aws:states:us-east-1:123456789012:execution:keyrotor-rotate:gone" {
				f.mustRun("begin", holder, rotation.Rotation{Input: rotation.Input{UserName: f.user}})
			} else {
				// Begin runs only for an execution that exists: a lock whose holder never
				// existed is one written by hand (or by an execution since deleted).
				if _, err := world.ssm.PutParameter(f.ctx, &ssm.PutParameterInput{Name: aws.String(f.param + rotation.LockSuffix),
					Value: aws.String(`{"executionId":"` + holder + `","existingAccessKeyIds":[]}`), Type: "String"}); err != nil {
					t.Fatal(err)
				}
			}
			if tt.afterHold != nil {
				tt.afterHold(f, holder)
			}
			second := f.execution()
			r, err := f.run("begin", second, rotation.Rotation{Input: rotation.Input{UserName: f.user}})
			if (tt.wantName == "") != (err == nil) || (err != nil && errorName(err) != tt.wantName) {
				t.Fatalf("second begin: %v, want %q", err, tt.wantName)
			}
			lock := f.lockValue()
			if tt.wantName == "" {
				if r.LockID != second || lock["executionId"] != second {
					t.Errorf("lock = %v, doc lockId %s; want %s", lock, r.LockID, second)
				}
				return
			}
			if lock["executionId"] != holder || !strings.Contains(err.Error(), holder) {
				t.Errorf("lock = %v, error %q; want holder %s kept and named", lock, err, holder)
			}
			// The holder still owns it and can go on.
			f.mustRun("create", holder, f.mustRun("begin", holder, rotation.Rotation{Input: rotation.Input{UserName: f.user}}))
		})
	}
}

func (f *fixture) lockValue() map[string]any {
	f.t.Helper()
	out, err := world.ssm.GetParameter(f.ctx, &ssm.GetParameterInput{Name: aws.String(f.param + ".lock")})
	if err != nil {
		f.t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(out.Parameter.Value)), &v); err != nil {
		f.t.Fatal(err)
	}
	return v
}

func TestDeactivateExtendsGraceWhileOldKeyIsUsed(t *testing.T) {
	f := newFixture(t)
	old, oldSecret := f.userWithKey()
	exec := f.execution()
	r := rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}}
	for _, action := range []string{"begin", "create", "store", "verify"} {
		r = f.mustRun(action, exec, r)
	}
	time.Sleep(1100 * time.Millisecond) // LastUsedDate must fall in a later second than verifiedAt
	for want := 1; want <= rotation.MaxExtensions; want++ {
		// A consumer that has not refreshed still uses the old key.
		if _, err := f.steps.CallerIdentity(context.Background(), old, rotation.NewSecretKey(oldSecret)); err != nil {
			t.Fatal(err)
		}
		r = f.mustRun("deactivate", exec, r)
		if !r.StillInUse || r.Extensions != want || r.ExtendSeconds < 60 || f.keys()[old] != iamtypes.StatusTypeActive {
			t.Fatalf("extension %d: stillInUse=%v extensions=%d extendSeconds=%d old=%s", want, r.StillInUse, r.Extensions, r.ExtendSeconds, f.keys()[old])
		}
	}
	r = f.mustRun("deactivate", exec, r)
	if r.StillInUse || f.keys()[old] != iamtypes.StatusTypeInactive || r.DeactivatedAccessKeyIDs[0] != old {
		t.Errorf("after %d extensions: stillInUse=%v old=%s", rotation.MaxExtensions, r.StillInUse, f.keys()[old])
	}
}

func TestAWSFailuresAreNamed(t *testing.T) {
	tests := []struct {
		fault    faultproxy.Fault
		wantName string
		wantText string
	}{
		{faultproxy.Throttle, rotation.Throttled, "iam:ListUserTags"},
		{faultproxy.ServerError, rotation.ServiceUnavailable, "HTTP 500"},
		{faultproxy.AccessDenied, rotation.AccessDenied, "grant iam:ListUserTags"},
		{faultproxy.Hang, rotation.ServiceUnavailable, "no answer from AWS for iam:ListUserTags"},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			f := newFixture(t)
			f.createUser()
			world.proxy.AddRule(faultproxy.Rule{Service: "iam", Action: "ListUserTags", Fault: tt.fault})
			t.Cleanup(world.proxy.ClearRules)
			exec := f.execution()
			if tt.fault == faultproxy.Hang {
				ctx, cancel := context.WithTimeout(f.ctx, 500*time.Millisecond) // as the Lambda's deadline would
				defer cancel()
				f.ctx = ctx
			}
			_, err := f.run("begin", exec, rotation.Rotation{Input: rotation.Input{UserName: f.user}})
			if errorName(err) != tt.wantName || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("begin: %v (%s), want %s mentioning %q", err, errorName(err), tt.wantName, tt.wantText)
			}
		})
	}
}

func TestHandlerReturnsNamedLambdaErrors(t *testing.T) {
	f := newFixture(t)
	f.createUser()
	handler := lambdamain.Adapt(f.steps.Logger, "a rotation request", f.steps.Dispatch("begin", "create"))
	exec := f.execution()
	tests := []struct {
		name, event, wantType, wantText string
	}{
		{"wrong type", `{"action":"begin","executionId":"` + exec + `","rotation":{"userName":"x","graceSeconds":"1h"}}`, rotation.InvalidInput, "graceSeconds"},
		{"unknown field", `{"action":"begin","executionId":"` + exec + `","rotation":{"userName":"x","gracePeriod":5}}`, rotation.InvalidInput, "gracePeriod"},
		{"no execution id", `{"action":"begin","rotation":{"userName":"x"}}`, rotation.InvalidInput, "$$.Execution.Id"},
		{"action of another function", `{"action":"verify","executionId":"` + exec + `","rotation":{"userName":"x"}}`, rotation.InvalidInput, "begin, create"},
		{"domain error keeps its name", `{"action":"begin","executionId":"` + exec + `","rotation":{"userName":"nobody-` + f.user + `"}}`, rotation.UserNotFound, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := handler(context.Background(), json.RawMessage(tt.event))
			var lambdaErr messages.InvokeResponse_Error
			if !errors.As(err, &lambdaErr) || lambdaErr.Type != tt.wantType || !strings.Contains(lambdaErr.Message, tt.wantText) {
				t.Errorf("err = %#v, want %s mentioning %q", err, tt.wantType, tt.wantText)
			}
		})
	}
	f.started(exec, "begin", rotation.Rotation{Input: rotation.Input{UserName: f.user}})
	out, err := handler(context.Background(), json.RawMessage(`{"action":"begin","executionId":"`+exec+`","rotation":{"userName":"`+f.user+`"}}`))
	if err != nil || out.LockID != exec || *out.GraceSeconds != rotation.DefaultGraceSeconds || out.Format != "json" {
		t.Errorf("begin through the handler: %+v, %v", out, err)
	}
}

// lastUse answers GetAccessKeyLastUsed with a fixed time for every key: a consumer's last use
// placed exactly relative to the verification instant.
type lastUse struct {
	rotation.IAM
	at time.Time
}

func (l lastUse) GetAccessKeyLastUsed(ctx context.Context, in *iam.GetAccessKeyLastUsedInput, opts ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error) {
	return &iam.GetAccessKeyLastUsedOutput{AccessKeyLastUsed: &iamtypes.AccessKeyLastUsed{LastUsedDate: aws.Time(l.at)}}, nil
}

func TestDeactivateComparesLastUseWithTheExactVerificationTime(t *testing.T) {
	// Verification at .700 s of a second: a use 400 ms earlier (same second) is before it.
	verified := time.Now().UTC().Truncate(time.Second).Add(-time.Minute).Add(700 * time.Millisecond)
	tests := []struct {
		name       string
		lastUsed   time.Time
		stillInUse bool
	}{
		{"used in the same second before verification", verified.Add(-400 * time.Millisecond), false},
		{"used a second before verification", verified.Add(-time.Second), false},
		{"used in the same second after verification", verified.Add(200 * time.Millisecond), true},
		{"used a second after verification", verified.Add(time.Second), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			old, _ := f.userWithKey()
			exec := f.execution()
			r := rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}}
			for _, action := range []string{"begin", "create", "store"} {
				r = f.mustRun(action, exec, r)
			}
			f.steps.Now = func() time.Time { return verified }
			r = f.mustRun("verify", exec, r)
			if at, err := time.Parse(time.RFC3339, r.VerifiedAt); err != nil || !at.Equal(verified) {
				t.Errorf("verifiedAt %q (%v) does not name the verification instant %s", r.VerifiedAt, err, verified.Format(time.RFC3339Nano))
			}
			f.steps.IAM = lastUse{IAM: f.steps.IAM, at: tt.lastUsed}
			// Checked once a use before verification is too old to hide later ones (inuse.go).
			f.steps.Now = func() time.Time { return verified.Add(rotation.InUseWindow) }
			r = f.mustRun("deactivate", exec, r)
			wantStatus := iamtypes.StatusTypeInactive
			if tt.stillInUse {
				wantStatus = iamtypes.StatusTypeActive
			}
			if r.StillInUse != tt.stillInUse || f.keys()[old] != wantStatus {
				t.Errorf("last use %s, verified %s: stillInUse=%v (want %v), old key %s (want %s)",
					tt.lastUsed.Format(time.RFC3339Nano), r.VerifiedAt, r.StillInUse, tt.stillInUse, f.keys()[old], wantStatus)
			}
		})
	}
}
