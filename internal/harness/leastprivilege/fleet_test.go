package leastprivilege

import (
	"context"
	"testing"
)

// The fleet state machine's role may invoke listusers, run its Distributed Map (child
// executions of itself, Describe/Stop on those; the users object and the report in the fleet
// bucket only — https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html)
// and start the rotation state machine's executions — nothing that creates or reads a key
// itself, and nothing that stops a rotation.
func TestFleetRoleMayOnlyListUsersAndRunRotations(t *testing.T) {
	f := newFixture(t)
	ev, err := NewEvaluator(f.engine.Root)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := f.engine.FleetPolicy()
	if err != nil {
		t.Fatal(err)
	}
	role := "arn:aws:iam::" + f.engine.AccountID + ":role/keyrotor-fleet"
	p := Policies{Identity: map[string][]NamedPolicy{role: {{Name: "fleet", Document: doc}}}}
	rule := "arn:aws:events:" + f.engine.Region + ":" + f.engine.AccountID + ":rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"
	mapChild := "arn:aws:states:" + f.engine.Region + ":" + f.engine.AccountID + ":execution:" + f.engine.FleetStateMachineName() + "/rotations:0b6b1c39-2c1e-4c55-9d5c-5f1a2b3c4d5e"
	bucket := f.engine.FleetBucketARN()
	tests := []struct {
		action, resource string
		allowed          bool
	}{
		{"lambda:InvokeFunction", f.engine.FunctionARN("listusers"), true},
		{"states:StartExecution", f.engine.StateMachineARN(), true},
		// started, not followed: listusers follows each rotation to its cut-over, and a stopped
		// fleet leaves its rotations running to their own end
		{"states:DescribeExecution", f.engine.ExecutionARN("child-1"), false},
		{"states:StopExecution", f.engine.ExecutionARN("child-1"), false},
		{"events:PutRule", rule, false},
		{"logs:CreateLogDelivery", "*", true},
		{"logs:GetLogDelivery", "*", true},
		{"logs:UpdateLogDelivery", "*", true},
		{"logs:DeleteLogDelivery", "*", true},
		{"logs:ListLogDeliveries", "*", true},
		{"logs:PutResourcePolicy", "*", true},
		{"logs:DescribeResourcePolicies", "*", true},
		{"logs:DescribeLogGroups", "*", true},
		// its Distributed Map: child executions of itself, followed and stopped
		{"states:StartExecution", f.engine.FleetStateMachineARN(), true},
		{"states:DescribeExecution", mapChild, true},
		{"states:StopExecution", mapChild, true},
		// the users object and the report, in the fleet bucket only
		{"s3:GetObject", bucket + "/fleet/exec-1/users.json", true},
		{"s3:PutObject", bucket + "/fleet/exec-1/report/id/manifest.json", true},
		{"s3:ListMultipartUploadParts", bucket + "/fleet/exec-1/report/id/SUCCEEDED_0.json", true},
		{"s3:AbortMultipartUpload", bucket + "/fleet/exec-1/report/id/SUCCEEDED_0.json", true},
		{"s3:GetObject", "arn:aws:s3:::other-bucket/fleet/exec-1/users.json", false},
		{"s3:PutObject", bucket + "/elsewhere.json", false},
		{"s3:DeleteObject", bucket + "/fleet/exec-1/users.json", false},
		{"s3:PutBucketPolicy", bucket, false},
		{"states:DescribeExecution", "arn:aws:states:" + f.engine.Region + ":" + f.engine.AccountID + ":execution:payments/x:y", false},
		// the step functions, which create, store and delete keys
		{"lambda:InvokeFunction", f.engine.FunctionARN("createkey"), false},
		{"lambda:InvokeFunction", f.engine.FunctionARN("deleteoldkeys"), false},
		// other machines
		{"states:StartExecution", "arn:aws:states:" + f.engine.Region + ":" + f.engine.AccountID + ":stateMachine:payments", false},
		{"states:StopExecution", "arn:aws:states:" + f.engine.Region + ":" + f.engine.AccountID + ":execution:payments:x", false},
		{"iam:CreateAccessKey", f.engine.UserARN(managedUser), false},
	}
	calls := make([]Call, len(tests))
	for i, tt := range tests {
		calls[i] = Call{Principal: role, Action: tt.action, Resource: tt.resource}
	}
	decisions, err := ev.Evaluate(context.Background(), calls, p)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		if got := decisions[i].Allowed(); got != tt.allowed {
			t.Errorf("%s on %s: allowed = %v, want %v", tt.action, tt.resource, got, tt.allowed)
		}
	}
	everyStatementNeeded(t, decisions, p, allStatements)
}
