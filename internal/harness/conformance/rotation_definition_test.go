package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

type aslState struct {
	Type       string
	Resource   string
	Parameters map[string]any
	ResultPath *string
	Next       string
	Default    string
	End        bool
	Choices    []struct{ Next string }
	Retry      []struct {
		ErrorEquals     []string
		IntervalSeconds *float64
		BackoffRate     *float64
		MaxDelaySeconds *float64
		MaxAttempts     *int
		JitterStrategy  string
	}
	Catch []struct {
		ErrorEquals []string
		ResultPath  string
		Next        string
	}
	ErrorPath, CausePath string
	SecondsPath          string
}

func rotationStates(t *testing.T) (string, map[string]aslState) {
	var d struct {
		StartAt string
		States  map[string]aslState
	}
	if err := json.Unmarshal(rotationDefinition(t), &d); err != nil {
		t.Fatal(err)
	}
	return d.StartAt, d.States
}

// The Task states follow docs/steps.md: function, action, event shape, whole-state result, the
// transient retrier on every Task, and a Catch that writes $.error.
func TestRotationTasksFollowTheStepContract(t *testing.T) {
	_, states := rotationStates(t)
	ck, sp, vk, dk := functionARNs["create_key_function_arn"], functionARNs["store_parameter_function_arn"],
		functionARNs["verify_key_function_arn"], functionARNs["delete_old_keys_function_arn"]
	want := map[string]struct{ resource, action string }{
		"Begin": {ck, "begin"}, "CreateKey": {ck, "create"}, "StoreParameter": {sp, "store"}, "VerifyKey": {vk, "verify"},
		"DeactivateOldKeys": {dk, "deactivate"}, "DeleteOldKeys": {dk, "delete"}, "RestoreParameter": {sp, "restore"},
		"DeleteNewKey": {dk, "rollback"}, "ReleaseLock": {dk, "release"},
	}
	// Throttling and service errors, and a Lambda whose process died (crash, out of memory,
	// timeout): every step is idempotent, so a retry finds its earlier work and goes on.
	// Lambda.ClientExecutionTimeoutException completes AWS's recommended set for Lambda service
	// errors (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
	transient := []string{"Throttled", "ServiceUnavailable", "Lambda.ServiceException", "Lambda.ClientExecutionTimeoutException", "Lambda.AWSLambdaException",
		"Lambda.SdkClientException", "Lambda.TooManyRequestsException", "Runtime.ExitError", "Sandbox.Timedout", "Lambda.Unknown"}
	served := (&rotation.Steps{}).Actions()
	for name, st := range states {
		if st.Type != "Task" {
			continue
		}
		w, ok := want[name]
		if !ok {
			t.Errorf("Task %s is not a step of docs/steps.md", name)
			continue
		}
		delete(want, name)
		if st.Resource != w.resource {
			t.Errorf("%s: Resource %s, want %s", name, st.Resource, w.resource)
		}
		if _, ok := served[w.action]; !ok {
			t.Errorf("%s: action %q is not served by internal/rotation", name, w.action)
		}
		wantParams := map[string]any{"action": w.action, "executionId.$": "$$.Execution.Id", "rotation.$": "$"}
		if !testutil.JSONEqual(testutil.MustJSON(st.Parameters), testutil.MustJSON(wantParams)) {
			t.Errorf("%s: Parameters %v, want %v", name, st.Parameters, wantParams)
		}
		if st.ResultPath == nil || *st.ResultPath != "$" {
			t.Errorf("%s: ResultPath must be \"$\" (the Lambda answers with the whole document)", name)
		}
		if len(st.Retry) == 0 || !slices.Equal(st.Retry[len(st.Retry)-1].ErrorEquals, transient) {
			t.Errorf("%s: the last retrier must retry %v", name, transient)
		}
		if len(st.Catch) == 0 {
			t.Errorf("%s: no Catch", name)
		}
		for _, c := range st.Catch {
			// The Lambdas decode strictly: only $.error (a document field) may lead to another Task.
			if next := states[c.Next]; next.Type == "Task" && c.ResultPath != "$.error" {
				t.Errorf("%s: Catch to Task %s writes %s, want $.error", name, c.Next, c.ResultPath)
			}
		}
	}
	for name := range want {
		t.Errorf("no Task state %s", name)
	}
	for name, st := range states {
		if st.Type == "Fail" && (st.ErrorPath != "$.failure.error" || st.CausePath != "$.failure.cause") {
			t.Errorf("Fail %s: ErrorPath %q CausePath %q, want $.failure.error / $.failure.cause", name, st.ErrorPath, st.CausePath)
		}
	}
}

// Following the happy path (Next, and Choice defaults) from StartAt enters at most 12 states.
func TestRotationHappyPathTakesAtMostTwelveTransitions(t *testing.T) {
	start, states := rotationStates(t)
	var entered []string
	for name := start; name != ""; {
		if len(entered) > 50 {
			t.Fatalf("the happy path does not end: %v", entered)
		}
		entered = append(entered, name)
		st := states[name]
		switch st.Type {
		case "Choice":
			name = st.Default
		case "Succeed", "Fail":
			name = ""
		default:
			name = st.Next
		}
	}
	if !slices.Equal(entered, happyPath) {
		t.Errorf("happy path %v, want %v", entered, happyPath)
	}
	if len(entered) > 12 {
		t.Errorf("happy path enters %d states, the limit is 12", len(entered))
	}
	if last := states[entered[len(entered)-1]]; last.Type != "Succeed" {
		t.Errorf("the happy path ends in %s, want a Succeed state", last.Type)
	}
}

// The KeyNotYetValid schedule as statemachine/README.md documents it: for a key that STS accepts
// D seconds after the first attempt, when it is verified and how many STS calls that takes.
func TestVerifyKeyRetryScheduleMatchesTheREADME(t *testing.T) {
	_, states := rotationStates(t)
	r := states["VerifyKey"].Retry[0]
	if !slices.Equal(r.ErrorEquals, []string{"KeyNotYetValid"}) || r.JitterStrategy != "NONE" {
		t.Fatalf("VerifyKey's first retrier is %v %s, want KeyNotYetValid without jitter", r.ErrorEquals, r.JitterStrategy)
	}
	// Attempt times: 0, then each wait min(Interval × Rate^(n-1), MaxDelay).
	attempts := []float64{0}
	for n := 1; n <= *r.MaxAttempts; n++ {
		wait := math.Min(*r.IntervalSeconds*math.Pow(*r.BackoffRate, float64(n-1)), *r.MaxDelaySeconds)
		attempts = append(attempts, attempts[n-1]+wait)
	}
	for _, tc := range []struct {
		d, verifiedAt float64
		calls         int
	}{
		{0, 0, 1}, {2, 3, 3}, {8, 9, 6}, {15, 15, 9},
	} {
		i := slices.IndexFunc(attempts, func(a float64) bool { return a >= tc.d })
		if i < 0 || attempts[i] != tc.verifiedAt || i+1 != tc.calls {
			t.Errorf("D=%gs: verified at %gs after %d calls, README says %gs after %d", tc.d, attempts[max(i, 0)], i+1, tc.verifiedAt, tc.calls)
		}
	}
	// No gap longer than 2 s: a key is verified at most 2 s after it becomes valid.
	for i := 1; i < len(attempts); i++ {
		if gap := attempts[i] - attempts[i-1]; gap > 2 {
			t.Errorf("gap of %gs before attempt %d", gap, i)
		}
	}
	// The retrier outlasts verifykey's default propagation window (120 s), so the Lambda, which
	// knows the key's age, ends the wait with VerificationFailed.
	if last := attempts[len(attempts)-1]; last <= 120 {
		t.Errorf("the last retry comes %gs after the first attempt; it must come after the 120 s window", last)
	}
}

// Every Task input the definition produces in the rotation scenarios is an event the Lambdas
// accept: it decodes strictly as rotation.Request (no field outside the document), names an
// action internal/rotation serves, and carries the execution id.
func TestRotationTaskInputsDecodeAsRotationRequests(t *testing.T) {
	served := (&rotation.Steps{}).Actions()
	for _, sc := range rotationScenarios(t) {
		o := runSfnlocal(context.Background(), sc)
		if len(o.Calls) == 0 && sc.Want.Path[1] != "DescribeInputRejection" {
			t.Errorf("%s: no task calls", sc.Name)
		}
		for _, c := range o.Calls {
			var req rotation.Request
			dec := json.NewDecoder(bytes.NewReader(c.Input))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				t.Errorf("%s: %s sends an event the Lambda refuses: %v\n%s", sc.Name, c.State, err, c.Input)
				continue
			}
			if _, ok := served[req.Action]; !ok || req.ExecutionID != executionArn(sc.Name) {
				t.Errorf("%s: %s sends action %q, executionId %q", sc.Name, c.State, req.Action, req.ExecutionID)
			}
		}
	}
}

// sfnlocal runs VerifyKey's retry schedule as the README documents it: on a virtual clock, a
// key STS accepts D seconds after the first attempt is verified at the documented time after
// the documented number of calls.
func TestVerifyKeyScheduleRunsAsDocumentedInSfnlocal(t *testing.T) {
	sm, err := sfnlocal.Parse(rotationDefinition(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		d, verifiedAfter time.Duration
		calls            int
	}{
		{0, 0, 1}, {2 * time.Second, 3 * time.Second, 3}, {8 * time.Second, 9 * time.Second, 6}, {15 * time.Second, 15 * time.Second, 9},
	} {
		t.Run(tc.d.String(), func(t *testing.T) {
			clock := sfnlocal.NewVirtualClock(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC))
			base := newStubs(map[string][]Result{
				"Begin":     {merge(map[string]any{"parameterName": "/keyrotor/u", "graceSeconds": 0, "inactiveSeconds": 0})},
				"CreateKey": {merge(map[string]any{"newAccessKeyId": "AKIANEW"})}, "StoreParameter": {merge(map[string]any{"parameterVersion": 1})},
				"DeactivateOldKeys": {merge(map[string]any{"stillInUse": false})}, "DeleteOldKeys": {merge(map[string]any{})},
			})
			var first, verified time.Time
			calls := 0
			invoker := sfnlocal.TaskInvokerFunc(func(ctx context.Context, req sfnlocal.TaskRequest) (json.RawMessage, error) {
				if req.StateName != "VerifyKey" {
					return base.InvokeTask(ctx, req)
				}
				calls++
				now := clock.Now()
				if first.IsZero() {
					first = now
				}
				if now.Sub(first) < tc.d {
					return nil, sfnlocal.NewTaskFailure("KeyNotYetValid", testutil.LambdaCause("KeyNotYetValid", "not yet"))
				}
				verified = now
				return json.Marshal(map[string]any{"userName": "u", "parameterName": "/keyrotor/u", "graceSeconds": 0,
					"inactiveSeconds": 0, "newAccessKeyId": "AKIANEW", "verifiedAt": now.Format(time.RFC3339), "stillInUse": false})
			})
			ex := sfnlocal.Run(context.Background(), sm, json.RawMessage(`{"userName": "u"}`), sfnlocal.Options{
				Tasks: invoker, Clock: clock, ExecutionArn: executionArn("schedule"),
			})
			if ex.Status != sfnlocal.StatusSucceeded {
				t.Fatalf("execution %s %s %s", ex.Status, ex.Error, ex.Cause)
			}
			if got := verified.Sub(first); got != tc.verifiedAfter || calls != tc.calls {
				t.Errorf("verified %v after the first attempt with %d STS calls; README says %v with %d", got, calls, tc.verifiedAfter, tc.calls)
			}
		})
	}
}
