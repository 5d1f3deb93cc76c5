package alarms

import (
	"testing"

	"github.com/keyrotor/keyrotor/internal/iampolicy"
)

func TestLoadReadsEveryFilterAlarmAndTheFailureRule(t *testing.T) {
	root, err := iampolicy.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	inf, err := Load(root, Deployment{RotateStateMachineARN: "arn:aws:states:us-east-1:123456789012:stateMachine:keyrotor-rotate", FleetStateMachineARN: "arn:aws:states:us-east-1:123456789012:stateMachine:keyrotor-rotate-fleet"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range inf.Filters {
		t.Logf("filter %s on %s: %s -> %v", f.Name, f.LogGroup, f.Source, f.Metric)
	}
	for _, a := range inf.Alarms {
		t.Logf("alarm %+v", a)
	}
	t.Logf("rule %v", inf.EventRule)
}
