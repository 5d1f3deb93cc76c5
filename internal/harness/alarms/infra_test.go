package alarms

import (
	"slices"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/deployed"
)

const (
	testRotateARN = "arn:aws:states:eu-west-1:111122223333:stateMachine:keyrotor-rotate"
	testFleetARN  = "arn:aws:states:eu-west-1:111122223333:stateMachine:keyrotor-rotate-fleet"
)

func loadTestInfra(t *testing.T) *Infra {
	t.Helper()
	root, err := deployed.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	inf, err := Load(root, Deployment{RotateStateMachineARN: testRotateARN, FleetStateMachineARN: testFleetARN})
	if err != nil {
		t.Fatal(err)
	}
	return inf
}

func event(arn, status string, errName any) map[string]any {
	return map[string]any{"source": "aws.states", "detail-type": "Step Functions Execution Status Change",
		"detail": map[string]any{"stateMachineArn": arn, "status": status, "error": errName, "cause": nil}}
}

// The failure rule alerts on failures and stops, not on rejections, destroy's stop or success.
func TestFailureRuleAlertsOnFailuresNotOnRejections(t *testing.T) {
	inf := loadTestInfra(t)
	tests := []struct {
		arn, status string
		err         any
		want        bool
	}{
		{testRotateARN, "SUCCEEDED", nil, false},
		{testRotateARN, "FAILED", "TooManyActiveKeys", true},
		{testRotateARN, "FAILED", "VerificationFailed", true},
		{testRotateARN, "FAILED", "AccessDenied", true},
		{testRotateARN, "FAILED", "KeyNotYetValid", true},
		{testRotateARN, "TIMED_OUT", "States.Timeout", true},
		{testRotateARN, "ABORTED", nil, true},
		{testFleetARN, "FAILED", "States.ExceedToleratedFailureThreshold", true},
		{testRotateARN, "ABORTED", "keyrotor.Destroyed", false},
		{testRotateARN, "FAILED", "RotationInProgress", false},
		{testRotateARN, "FAILED", "UserNotManaged", false},
		{testRotateARN, "FAILED", "UserNotFound", false},
		{testRotateARN, "FAILED", "InvalidInput", false},
		{"arn:aws:states:eu-west-1:111122223333:stateMachine:other", "FAILED", "AccessDenied", false},
	}
	for _, tt := range tests {
		if got := MatchEvent(inf.EventRule, event(tt.arn, tt.status, tt.err)); got != tt.want {
			t.Errorf("%s %s %v: alerted %v, want %v", tt.arn, tt.status, tt.err, got, tt.want)
		}
	}
}

// Every function has its errors alarm over Lambda's Errors minus its filter's count; the
// alarm fires at the threshold within one 15-minute period and not below it.
func TestErrorsAlarmFiresAtItsThresholdWithinAPeriod(t *testing.T) {
	inf := loadTestInfra(t)
	var alarm *Alarm
	for i := range inf.Alarms {
		if inf.Alarms[i].Name == "keyrotor-createkey-errors" {
			alarm = &inf.Alarms[i]
		}
	}
	if alarm == nil {
		t.Fatal("no keyrotor-createkey-errors alarm")
	}
	var errorsMetric MetricID
	for _, q := range alarm.Queries {
		if q.Metric.Namespace == "AWS/Lambda" {
			errorsMetric = q.Metric
		}
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(n int, spacing time.Duration) []Datapoint {
		var p []Datapoint
		for i := range n {
			p = append(p, Datapoint{Metric: errorsMetric, Time: base.Add(time.Duration(i) * spacing), Value: 1})
		}
		return p
	}
	threshold := int(alarm.Threshold)
	for _, tt := range []struct {
		name   string
		points []Datapoint
		want   bool
	}{
		{"threshold errors in a period", at(threshold, time.Minute), true},
		{"one error fewer", at(threshold-1, time.Minute), false},
		{"threshold errors spread over periods", at(threshold, 16*time.Minute), false},
		{"no data", nil, false},
	} {
		firing, err := inf.Firing(tt.points)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(firing, alarm.Name); got != tt.want {
			t.Errorf("%s: fired %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestMetricMathFillsMissingData(t *testing.T) {
	one, five := 1.0, 5.0
	for _, tt := range []struct {
		expr   string
		values map[string]*float64
		want   *float64
	}{
		{"errors - FILL(expected, 0)", map[string]*float64{"errors": &five, "expected": nil}, &five},
		{"errors - FILL(expected, 0)", map[string]*float64{"errors": &five, "expected": &one}, ptr(4)},
		{"errors - FILL(expected, 0)", map[string]*float64{"errors": nil, "expected": &one}, nil},
		{"(errors + 1) * 2", map[string]*float64{"errors": &one}, ptr(4)},
	} {
		got, err := EvalMath(tt.expr, tt.values)
		if err != nil {
			t.Fatal(err)
		}
		if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("%s: %v, want %v", tt.expr, deref(got), deref(tt.want))
		}
	}
}

func ptr(v float64) *float64 { return &v }

func deref(p *float64) any {
	if p == nil {
		return "missing"
	}
	return *p
}
