package conformance

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keyrotor/keyrotor/internal/harness/testutil"
)

// The function ARNs the deployers put in for the ASL's placeholders.
var functionARNs = map[string]string{
	"create_key_function_arn":      "arn:aws:lambda:" + region + ":" + account + ":function:keyrotor-createkey",
	"store_parameter_function_arn": "arn:aws:lambda:" + region + ":" + account + ":function:keyrotor-storeparam",
	"verify_key_function_arn":      "arn:aws:lambda:" + region + ":" + account + ":function:keyrotor-verifykey",
	"delete_old_keys_function_arn": "arn:aws:lambda:" + region + ":" + account + ":function:keyrotor-deleteoldkeys",
}

// rotationDefinition is statemachine/rotate.asl.json with its placeholders filled in.
func rotationDefinition(t *testing.T) json.RawMessage {
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "statemachine", "rotate.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	for name, arn := range functionARNs {
		s = strings.ReplaceAll(s, "${"+name+"}", arn)
	}
	if i := strings.Index(s, "${"); i >= 0 {
		t.Fatalf("rotate.asl.json has a placeholder the deployers do not fill: %.40s", s[i:])
	}
	return json.RawMessage(s)
}

func lambdaError(errorType, message string) Result {
	return fail(errorType, testutil.LambdaCause(errorType, message))
}

var (
	happyPath = []string{"CheckInput", "Begin", "CreateKey", "StoreParameter", "VerifyKey", "GraceWait", "DeactivateOldKeys",
		"StillInUse", "InactiveWait", "DeleteOldKeys", "Rotated"}
	rejected = []string{"CheckInput", "Begin", "ParseRejection", "DescribeRejection", "RotationRejected"}
)

func path(parts ...[]string) []string { return slices.Concat(parts...) }

// beginFailed and retireFailed are the failure paths that describe a caught error: how (Parse:
// the Cause is a Lambda's JSON error document; Quote: anything else) picks the middle state.
func beginFailed(how string) []string {
	return []string{"CheckInput", "Begin", "LockMayBeHeld", "ReadBeginCause", how + "BeginCause", "DescribeBeginFailure", "RotationFailed"}
}

func retireFailed(how string) []string {
	return []string{"ReadRetireCause", how + "RetireCause", "DescribeRetireFailure", "RetireFailed"}
}

func rotationScenarios(t *testing.T) []Scenario {
	def := rotationDefinition(t)
	const user, param = "s3-signer", "/keyrotor/s3-signer"
	failure := func(name, cause string) Result {
		return merge(map[string]any{"failure": map[string]any{"error": name, "cause": cause}})
	}
	// What each rotation Lambda adds to the document on success (docs/steps.md).
	begin := func(name string) Result {
		return merge(map[string]any{"parameterName": param, "graceSeconds": 3600, "inactiveSeconds": 86400,
			"format": "json", "lockId": executionArn(name), "previousParameterVersion": 0, "parameterVersion": 0,
			"stsCalls": 0, "stillInUse": false, "extendSeconds": 0, "extensions": 0})
	}
	created := merge(map[string]any{"newAccessKeyId": "AKIANEW", "sealedSecret": "AQICAHsealed==", "previousAccessKeyIds": []string{"AKIAOLD"}})
	stored := merge(map[string]any{"previousParameterVersion": 1, "parameterVersion": 2})
	verified := merge(map[string]any{"verifiedAt": "2026-11-26T00:00:05Z", "stsCalls": 1})
	deactivated := merge(map[string]any{"stillInUse": false, "extendSeconds": 0, "deactivatedAccessKeyIds": []string{"AKIAOLD"}})
	inUse := func(n int) Result {
		return merge(map[string]any{"stillInUse": true, "extendSeconds": 3600, "extensions": n})
	}
	deleted := merge(map[string]any{"deletedAccessKeyIds": []string{"AKIAOLD"}})
	// What Lambda answers when the function's process died (killed, out of memory) or ran out
	// of time; Step Functions reports Lambda.Unknown for an error without errorType.
	crashed := lambdaError("Runtime.ExitError", "RequestId: 6f1c0e2a-0000-4000-8000-000000000001 Error: Runtime exited with error: signal: killed")
	timedOut := lambdaError("Sandbox.Timedout", "RequestId: 6f1c0e2a-0000-4000-8000-000000000002 Error: Task timed out after 30.00 seconds")
	unknown := fail("Lambda.Unknown", "The cause could not be determined because Lambda did not return an error type.")
	notYet := lambdaError("KeyNotYetValid", "STS does not accept key AKIANEW yet (IAM propagation); retry")
	throttled := lambdaError("Throttled", "create key: AWS throttled iam:CreateAccessKey")

	happy := func(name string) map[string][]Result {
		return map[string][]Result{
			"Begin": {begin(name)}, "CreateKey": {created}, "StoreParameter": {stored}, "VerifyKey": {verified},
			"DeactivateOldKeys": {deactivated}, "DeleteOldKeys": {deleted},
		}
	}
	with := func(tasks map[string][]Result, state string, results ...Result) map[string][]Result {
		tasks[state] = results
		return tasks
	}
	input := json.RawMessage(`{"userName": "` + user + `"}`)
	fullInput := json.RawMessage(`{"userName": "` + user + `", "parameterName": "` + param + `", "graceSeconds": 60, "inactiveSeconds": 120, "format": "raw"}`)
	sc := func(name string, in json.RawMessage, tasks map[string][]Result, want Want) Scenario {
		return Scenario{Name: "rotation/" + name, Definition: def, Input: in, Tasks: tasks, Want: &want}
	}
	n := func(s string) string { return "rotation/" + s }
	rolledBack := "Rotation of IAM user s3-signer failed (VerificationFailed): key refused. Deleted the new key AKIANEW. Released the lock."

	return []Scenario{
		sc("happy-path", input, happy(n("happy-path")), Want{Path: happyPath, Status: "SUCCEEDED",
			Calls: map[string]int{"Begin": 1, "VerifyKey": 1, "DeactivateOldKeys": 1}}),
		sc("console-input-all-fields", fullInput, happy(n("console-input-all-fields")), Want{Path: happyPath, Status: "SUCCEEDED"}),
		sc("invalid-input-rejected", json.RawMessage(`{"userName": "s3-signer", "graceSeconds": -1}`),
			map[string][]Result{"Begin": {lambdaError("InvalidInput", "invalid rotation input: graceSeconds -1 must be between 0 and 604800")}},
			Want{Path: rejected, Status: "FAILED", Error: "InvalidInput",
				Cause: "invalid rotation input: graceSeconds -1 must be between 0 and 604800"}),
		sc("input-without-user-rejected-before-any-step", json.RawMessage(`{"parameterName": "/keyrotor/x"}`),
			map[string][]Result{},
			Want{Path: []string{"CheckInput", "DescribeInputRejection", "RotationRejected"}, Status: "FAILED", Error: "InvalidInput"}),
		sc("non-object-input-rejected-before-any-step", json.RawMessage(`["s3-signer"]`),
			map[string][]Result{},
			Want{Path: []string{"CheckInput", "DescribeInputRejection", "RotationRejected"}, Status: "FAILED", Error: "InvalidInput"}),
		sc("user-not-managed-rejected", input,
			map[string][]Result{"Begin": {lambdaError("UserNotManaged", "IAM user s3-signer does not carry tag keyrotor:managed=true")}},
			Want{Path: rejected, Status: "FAILED", Error: "UserNotManaged"}),
		sc("user-not-found-rejected", input,
			map[string][]Result{"Begin": {lambdaError("UserNotFound", "IAM user s3-signer does not exist")}},
			Want{Path: rejected, Status: "FAILED", Error: "UserNotFound"}),
		// Another execution holds the lock: no ReleaseLock call at all.
		sc("rotation-in-progress-leaves-the-lock", fullInput,
			map[string][]Result{"Begin": {lambdaError("RotationInProgress", "another rotation (execution arn:x) holds /keyrotor/s3-signer.lock; wait for it to finish or stop it, then start again")}},
			Want{Path: rejected, Status: "FAILED", Error: "RotationInProgress",
				Cause: "another rotation (execution arn:x) holds /keyrotor/s3-signer.lock; wait for it to finish or stop it, then start again",
				Calls: map[string]int{"Begin": 1, "ReleaseLock": 0}}),
		sc("begin-throttled-then-succeeds", input,
			with(happy(n("begin-throttled-then-succeeds")), "Begin", throttled, throttled, begin(n("begin-throttled-then-succeeds"))),
			Want{Path: happyPath, Status: "SUCCEEDED", Calls: map[string]int{"Begin": 3}}),
		sc("begin-access-denied-releases-lock", fullInput,
			map[string][]Result{"Begin": {lambdaError("AccessDenied", "acquire lock: not allowed to call ssm:PutParameter")},
				"ReleaseLock": {failure("AccessDenied", "Rotation of IAM user s3-signer failed (AccessDenied): acquire lock. Parameter /keyrotor/s3-signer does not exist.")}},
			Want{Path: []string{"CheckInput", "Begin", "LockMayBeHeld", "ReleaseLock", "RotationFailed"}, Status: "FAILED", Error: "AccessDenied"}),
		sc("begin-lambda-failure-without-parameter-name", input,
			map[string][]Result{"Begin": {fail("Lambda.Unknown", "The cause could not be determined because Lambda did not return an error type.")}},
			Want{Path: beginFailed("Quote"), Status: "FAILED", Error: "Lambda.Unknown",
				Cause: "The rotation did not start: Begin failed (Lambda.Unknown: The cause could not be determined because Lambda did not return an error type.). No key was created. A lock Begin may have taken is broken by the next rotation.",
				Calls: map[string]int{"Begin": 7}}),
		sc("begin-failure-cause-is-the-lambda-message-not-its-json", input,
			map[string][]Result{"Begin": {lambdaError("UnexpectedError", "read tags of IAM user s3-signer: connection reset")}},
			Want{Path: beginFailed("Parse"), Status: "FAILED", Error: "UnexpectedError",
				Cause: "The rotation did not start: Begin failed (UnexpectedError: read tags of IAM user s3-signer: connection reset). No key was created. A lock Begin may have taken is broken by the next rotation."}),
		sc("too-many-active-keys-releases-lock", input,
			map[string][]Result{"Begin": {begin(n("too-many-active-keys-releases-lock"))},
				"CreateKey":   {lambdaError("TooManyActiveKeys", "IAM user s3-signer has 2 active keys")},
				"ReleaseLock": {failure("TooManyActiveKeys", "Rotation of IAM user s3-signer failed (TooManyActiveKeys): IAM user s3-signer has 2 active keys. Released the lock.")}},
			Want{Path: []string{"CheckInput", "Begin", "CreateKey", "ReleaseLock", "RotationFailed"}, Status: "FAILED", Error: "TooManyActiveKeys",
				Cause: "Rotation of IAM user s3-signer failed (TooManyActiveKeys): IAM user s3-signer has 2 active keys. Released the lock."}),
		sc("release-lock-fails-too", input,
			map[string][]Result{"Begin": {begin(n("release-lock-fails-too"))},
				"CreateKey":   {lambdaError("UnexpectedError", "create key: boom")},
				"ReleaseLock": {lambdaError("AccessDenied", "release lock: not allowed to call ssm:DeleteParameter")}},
			Want{Path: []string{"CheckInput", "Begin", "CreateKey", "ReleaseLock", "ReadRollbackCause", "ParseRollbackCause", "DescribeRollbackFailure", "RollbackFailed"},
				Status: "FAILED", Error: "UnexpectedError",
				Cause: "Rotation of IAM user s3-signer failed (UnexpectedError) and rolling it back failed too (AccessDenied: release lock: not allowed to call ssm:DeleteParameter). Check the access keys of s3-signer, the parameter /keyrotor/s3-signer and its lock /keyrotor/s3-signer.lock by hand."}),
		sc("store-failed-deletes-new-key", input,
			with(with(happy(n("store-failed-deletes-new-key")), "StoreParameter", lambdaError("ParameterConflict", "parameter /keyrotor/s3-signer changed")),
				"DeleteNewKey", failure("ParameterConflict", "Rotation of IAM user s3-signer failed (ParameterConflict). Deleted the new key AKIANEW. Released the lock.")),
			Want{Path: []string{"CheckInput", "Begin", "CreateKey", "StoreParameter", "DeleteNewKey", "RotationFailed"}, Status: "FAILED", Error: "ParameterConflict"}),
		sc("store-throttled-out-deletes-new-key", input,
			with(with(happy(n("store-throttled-out-deletes-new-key")), "StoreParameter", throttled),
				"DeleteNewKey", failure("Throttled", "Rotation of IAM user s3-signer failed (Throttled). Deleted the new key AKIANEW. Released the lock.")),
			Want{Path: []string{"CheckInput", "Begin", "CreateKey", "StoreParameter", "DeleteNewKey", "RotationFailed"}, Status: "FAILED", Error: "Throttled",
				Calls: map[string]int{"StoreParameter": 7}}),
		sc("crashed-steps-are-retried-and-the-rotation-goes-on", input,
			with(with(happy(n("crashed-steps-are-retried-and-the-rotation-goes-on")), "CreateKey", crashed, timedOut, unknown, created),
				"DeleteOldKeys", crashed, deleted),
			Want{Path: happyPath, Status: "SUCCEEDED", Calls: map[string]int{"CreateKey": 4, "DeleteOldKeys": 2}}),
		sc("key-not-yet-valid-then-verified", input,
			with(happy(n("key-not-yet-valid-then-verified")), "VerifyKey", seq(repeat(notYet, 5), []Result{verified})...),
			Want{Path: happyPath, Status: "SUCCEEDED", Calls: map[string]int{"VerifyKey": 6}}),
		sc("key-not-yet-valid-and-service-errors-retried-separately", input,
			with(happy(n("key-not-yet-valid-and-service-errors-retried-separately")), "VerifyKey",
				notYet, fail("Lambda.ServiceException", "Lambda is unavailable"), notYet, lambdaError("ServiceUnavailable", "no answer from AWS for sts:GetCallerIdentity"),
				notYet, fail("Lambda.TooManyRequestsException", "Rate exceeded"), verified),
			Want{Path: happyPath, Status: "SUCCEEDED", Calls: map[string]int{"VerifyKey": 7}}),
		sc("key-not-yet-valid-exhausted-rolls-back", input,
			with(with(with(happy(n("key-not-yet-valid-exhausted-rolls-back")), "VerifyKey", notYet),
				"RestoreParameter", merge(map[string]any{"parameterVersion": 3})),
				"DeleteNewKey", failure("KeyNotYetValid", "Rotation of IAM user s3-signer failed (KeyNotYetValid). Deleted the new key AKIANEW. Released the lock.")),
			Want{Path: []string{"CheckInput", "Begin", "CreateKey", "StoreParameter", "VerifyKey", "RestoreParameter", "DeleteNewKey", "RotationFailed"},
				Status: "FAILED", Error: "KeyNotYetValid", Calls: map[string]int{"VerifyKey": 62}}),
		sc("verification-failed-restores-and-deletes", input,
			with(with(with(happy(n("verification-failed-restores-and-deletes")), "VerifyKey", lambdaError("VerificationFailed", "key refused")),
				"RestoreParameter", merge(map[string]any{"parameterVersion": 3})),
				"DeleteNewKey", failure("VerificationFailed", rolledBack)),
			Want{Path: []string{"CheckInput", "Begin", "CreateKey", "StoreParameter", "VerifyKey", "RestoreParameter", "DeleteNewKey", "RotationFailed"},
				Status: "FAILED", Error: "VerificationFailed", Cause: rolledBack, Calls: map[string]int{"VerifyKey": 1}}),
		sc("restore-failed-still-deletes-new-key", input,
			with(with(with(happy(n("restore-failed-still-deletes-new-key")), "VerifyKey", lambdaError("VerificationFailed", "key refused")),
				"RestoreParameter", lambdaError("AccessDenied", "restore: not allowed to call ssm:PutParameter")),
				"DeleteNewKey", failure("AccessDenied", "Rotation of IAM user s3-signer failed (AccessDenied): restore. Kept the new key AKIANEW because parameter /keyrotor/s3-signer holds it.")),
			Want{Path: []string{"CheckInput", "Begin", "CreateKey", "StoreParameter", "VerifyKey", "RestoreParameter", "DeleteNewKey", "RotationFailed"},
				Status: "FAILED", Error: "AccessDenied"}),
		sc("rollback-fails-too", input,
			with(with(happy(n("rollback-fails-too")), "StoreParameter", lambdaError("UnexpectedError", "store: boom")),
				"DeleteNewKey", lambdaError("AccessDenied", "delete key: not allowed to call iam:DeleteAccessKey")),
			Want{Path: []string{"CheckInput", "Begin", "CreateKey", "StoreParameter", "DeleteNewKey", "ReadRollbackCause", "ParseRollbackCause", "DescribeRollbackFailure", "RollbackFailed"},
				Status: "FAILED", Error: "UnexpectedError",
				Cause: "Rotation of IAM user s3-signer failed (UnexpectedError) and rolling it back failed too (AccessDenied: delete key: not allowed to call iam:DeleteAccessKey). Check the access keys of s3-signer, the parameter /keyrotor/s3-signer and its lock /keyrotor/s3-signer.lock by hand."}),
		sc("rollback-failure-with-a-cause-that-is-not-json", input,
			with(with(happy(n("rollback-failure-with-a-cause-that-is-not-json")), "StoreParameter", lambdaError("UnexpectedError", "store: boom")),
				"DeleteNewKey", unknown),
			Want{Path: []string{"CheckInput", "Begin", "CreateKey", "StoreParameter", "DeleteNewKey", "ReadRollbackCause", "QuoteRollbackCause", "DescribeRollbackFailure", "RollbackFailed"},
				Status: "FAILED", Error: "UnexpectedError", Calls: map[string]int{"DeleteNewKey": 7},
				Cause: "Rotation of IAM user s3-signer failed (UnexpectedError) and rolling it back failed too (Lambda.Unknown: The cause could not be determined because Lambda did not return an error type.). Check the access keys of s3-signer, the parameter /keyrotor/s3-signer and its lock /keyrotor/s3-signer.lock by hand."}),
		sc("still-in-use-extends-grace-three-times", input,
			with(happy(n("still-in-use-extends-grace-three-times")), "DeactivateOldKeys", inUse(1), inUse(2), inUse(3), deactivated),
			Want{Path: path(happyPath[:8], []string{"ExtendGrace", "DeactivateOldKeys", "StillInUse", "ExtendGrace", "DeactivateOldKeys", "StillInUse",
				"ExtendGrace", "DeactivateOldKeys", "StillInUse"}, happyPath[8:]), Status: "SUCCEEDED", Calls: map[string]int{"DeactivateOldKeys": 4}}),
		sc("deactivate-failed-reports-verified-key", input,
			with(happy(n("deactivate-failed-reports-verified-key")), "DeactivateOldKeys", lambdaError("RotationInProgress", "/keyrotor/s3-signer.lock is held by nobody")),
			Want{Path: path(happyPath[:7], retireFailed("Parse")), Status: "FAILED", Error: "RotationInProgress",
				Cause: "The new key AKIANEW of IAM user s3-signer is verified and stored in /keyrotor/s3-signer, where consumers read it; retiring the old keys failed (RotationInProgress: /keyrotor/s3-signer.lock is held by nobody). Nothing was rolled back. Fix that first (grant the permission named above, for instance); then the next rotation of s3-signer finishes this one from the record in its lock /keyrotor/s3-signer.lock: it verifies AKIANEW again and retires the old keys itself. To retire them by hand instead, for every key of s3-signer other than AKIANEW (aws iam list-access-keys --user-name s3-signer): once nothing uses it (aws iam get-access-key-last-used --access-key-id ID), deactivate it (aws iam update-access-key --user-name s3-signer --access-key-id ID --status Inactive) and delete it (aws iam delete-access-key --user-name s3-signer --access-key-id ID)."}),
		sc("retire-failure-with-a-cause-that-is-not-json", input,
			with(happy(n("retire-failure-with-a-cause-that-is-not-json")), "DeactivateOldKeys", fail("States.Timeout", "The task did not finish in time.")),
			Want{Path: path(happyPath[:7], retireFailed("Quote")), Status: "FAILED", Error: "States.Timeout", Calls: map[string]int{"DeactivateOldKeys": 1},
				Cause: "The new key AKIANEW of IAM user s3-signer is verified and stored in /keyrotor/s3-signer, where consumers read it; retiring the old keys failed (States.Timeout: The task did not finish in time.). Nothing was rolled back. Fix that first (grant the permission named above, for instance); then the next rotation of s3-signer finishes this one from the record in its lock /keyrotor/s3-signer.lock: it verifies AKIANEW again and retires the old keys itself. To retire them by hand instead, for every key of s3-signer other than AKIANEW (aws iam list-access-keys --user-name s3-signer): once nothing uses it (aws iam get-access-key-last-used --access-key-id ID), deactivate it (aws iam update-access-key --user-name s3-signer --access-key-id ID --status Inactive) and delete it (aws iam delete-access-key --user-name s3-signer --access-key-id ID)."}),
		sc("delete-old-keys-throttled-then-succeeds", input,
			with(happy(n("delete-old-keys-throttled-then-succeeds")), "DeleteOldKeys", throttled, fail("Lambda.AWSLambdaException", "x"), fail("Lambda.SdkClientException", "y"), deleted),
			Want{Path: happyPath, Status: "SUCCEEDED", Calls: map[string]int{"DeleteOldKeys": 4}}),
		sc("delete-old-keys-failed-reports-verified-key", input,
			with(happy(n("delete-old-keys-failed-reports-verified-key")), "DeleteOldKeys", lambdaError("AccessDenied", "delete key: not allowed to call iam:DeleteAccessKey")),
			Want{Path: path(happyPath[:10], retireFailed("Parse")), Status: "FAILED", Error: "AccessDenied"}),
	}
}
