package leastprivilege

import (
	"context"
	"testing"
)

// The fleet state machine's role may invoke listusers and run the rotation state machine as
// .sync child executions — nothing that creates or reads a key itself.
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
	tests := []struct {
		action, resource string
		allowed          bool
	}{
		{"lambda:InvokeFunction", f.engine.FunctionARN("listusers"), true},
		{"states:StartExecution", f.engine.StateMachineARN(), true},
		{"states:DescribeExecution", f.engine.ExecutionARN("child-1"), true},
		{"states:StopExecution", f.engine.ExecutionARN("child-1"), true},
		{"events:PutTargets", rule, true},
		{"events:PutRule", rule, true},
		{"events:DescribeRule", rule, true},
		{"logs:CreateLogDelivery", "*", true},
		{"logs:GetLogDelivery", "*", true},
		{"logs:UpdateLogDelivery", "*", true},
		{"logs:DeleteLogDelivery", "*", true},
		{"logs:ListLogDeliveries", "*", true},
		{"logs:PutResourcePolicy", "*", true},
		{"logs:DescribeResourcePolicies", "*", true},
		{"logs:DescribeLogGroups", "*", true},
		// the step functions, which create, store and delete keys
		{"lambda:InvokeFunction", f.engine.FunctionARN("createkey"), false},
		{"lambda:InvokeFunction", f.engine.FunctionARN("deleteoldkeys"), false},
		// itself (a fleet starting fleets) and other machines
		{"states:StartExecution", f.engine.FleetStateMachineARN(), false},
		{"states:StartExecution", "arn:aws:states:" + f.engine.Region + ":" + f.engine.AccountID + ":stateMachine:payments", false},
		{"states:StopExecution", "arn:aws:states:" + f.engine.Region + ":" + f.engine.AccountID + ":execution:payments:x", false},
		{"events:PutRule", "arn:aws:events:" + f.engine.Region + ":" + f.engine.AccountID + ":rule/other", false},
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
	for _, u := range Coverage(decisions, p) {
		if !u.Decisive() {
			t.Errorf("statement %s decides no call", u.Statement)
		}
		if unused := u.UnusedActions(); len(unused) > 0 {
			t.Errorf("statement %s grants %v, which no call needs", u.Statement, unused)
		}
	}
}
