package conformance

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	listUsersARN  = "arn:aws:lambda:" + region + ":" + account + ":function:keyrotor-listusers"
	rotateMachine = "arn:aws:states:" + region + ":" + account + ":stateMachine:keyrotor-rotate"
)

// fleetDefinition is statemachine/rotate-fleet.asl.json with its placeholders filled in.
func fleetDefinition(t *testing.T) json.RawMessage {
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "statemachine", "rotate-fleet.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer("${list_users_function_arn}", listUsersARN, "${rotate_state_machine_arn}", rotateMachine).Replace(string(src))
	if i := strings.Index(s, "${"); i >= 0 {
		t.Fatalf("rotate-fleet.asl.json has a placeholder the deployers do not fill: %.40s", s[i:])
	}
	return json.RawMessage(s)
}

// fleetScenarios run the fleet definition's paths on which both engines share AWS's documented
// semantics: the listing's rejection and failure. Its rotating paths are left out: they rely on
// ToleratedFailurePercentagePath, which aws-local-stepfunctions does not implement, and its
// Summarize state on a JSONPath filter that matches nothing giving [], where
// aws-local-stepfunctions fails with States.Runtime (see README.md).
func fleetScenarios(t *testing.T) []Scenario {
	def := fleetDefinition(t)
	return []Scenario{
		{
			Name: "fleet/invalid-input-rejected", Definition: def, Input: raw(`{"maxConcurrency": 0}`),
			Tasks: map[string][]Result{"ListManagedUsers": {lambdaError("InvalidInput", "invalid fleet input: maxConcurrency 0 must be between 1 and 1000")}},
			Want: &Want{Path: []string{"ListManagedUsers", "ParseRejection", "DescribeRejection", "FleetRejected"}, Status: "FAILED", Error: "InvalidInput",
				Cause: "invalid fleet input: maxConcurrency 0 must be between 1 and 1000 No rotation was started."},
		},
		{
			Name: "fleet/listing-denied-fails-before-any-rotation", Definition: def, Input: raw(`{}`),
			Tasks: map[string][]Result{"ListManagedUsers": {lambdaError("AccessDenied", "list users: not allowed to call iam:ListUsers")}},
			Want: &Want{Path: []string{"ListManagedUsers", "ReadListingCause", "ParseListingCause", "DescribeListingFailure", "ListingFailed"}, Status: "FAILED", Error: "AccessDenied",
				Cause: "Listing the managed users failed (AccessDenied: list users: not allowed to call iam:ListUsers). No rotation was started.", Calls: map[string]int{"StartRotation": 0}},
		},
		{
			Name: "fleet/listing-crashed-is-retried-then-quoted", Definition: def, Input: raw(`{}`),
			Tasks: map[string][]Result{"ListManagedUsers": {fail("Lambda.Unknown", "The cause could not be determined because Lambda did not return an error type.")}},
			Want: &Want{Path: []string{"ListManagedUsers", "ReadListingCause", "QuoteListingCause", "DescribeListingFailure", "ListingFailed"}, Status: "FAILED", Error: "Lambda.Unknown",
				Cause: "Listing the managed users failed (Lambda.Unknown: The cause could not be determined because Lambda did not return an error type.). No rotation was started.",
				Calls: map[string]int{"ListManagedUsers": 7, "StartRotation": 0}},
		},
	}
}
