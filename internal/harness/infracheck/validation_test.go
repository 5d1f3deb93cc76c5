package infracheck

import (
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/keyrotor/keyrotor/internal/schedule"
)

// validationCase is one value for one module's variable, and whether its validations accept it.
type validationCase struct {
	module, variable string
	value            cty.Value
	valid            bool
}

// checkValidations runs each case's variable validations: a rejected value's every message
// must name the variable, so that the person who set it knows which one to fix.
func checkValidations(t *testing.T, mods map[string]*Module, tests []validationCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.module+"/"+tt.variable+"="+tt.value.GoString(), func(t *testing.T) {
			failed, err := mods[tt.module].Validate(tt.variable, tt.value)
			if err != nil {
				t.Fatal(err)
			}
			if valid := len(failed) == 0; valid != tt.valid {
				t.Fatalf("valid = %v (messages %q), want %v", valid, failed, tt.valid)
			}
			for _, msg := range failed {
				if !strings.Contains(msg, tt.variable) {
					t.Errorf("message %q does not name %s", msg, tt.variable)
				}
			}
		})
	}
}

func TestVariableValidationsAcceptGoodAndRejectBadValues(t *testing.T) {
	_, mods := load(t)
	str := cty.StringVal
	num := cty.NumberIntVal
	tests := []validationCase{
		{engineDir, "name", str("keyrotor"), true},
		{engineDir, "name", str("9lives"), false},
		{engineDir, "name", str(strings.Repeat("a", 41)), false},
		{inputsDir, "parameter_prefix", str("/keyrotor/"), true},
		{inputsDir, "parameter_prefix", str("/team/keys/"), true},
		{inputsDir, "parameter_prefix", str("/keyrotor"), false},
		{inputsDir, "parameter_prefix", str("keyrotor/"), false},
		{inputsDir, "parameter_prefix", str("/"), false},
		{inputsDir, "managed_user_path", str("/"), true},
		{inputsDir, "managed_user_path", str("/service-users/"), true},
		{inputsDir, "managed_user_path", str("service-users"), false},
		{inputsDir, "parameter_readers", cty.MapVal(map[string]cty.Value{"arn:aws:iam::111122223333:role/signer": cty.ListVal([]cty.Value{str("/keyrotor/s3-signer")})}), true},
		{inputsDir, "parameter_readers", cty.MapVal(map[string]cty.Value{"arn:aws:iam::111122223333:user/bob": cty.ListVal([]cty.Value{str("/keyrotor/s3-signer")})}), false},
		{inputsDir, "parameter_readers", cty.MapVal(map[string]cty.Value{"arn:aws:iam::111122223333:role/signer": cty.ListValEmpty(cty.String)}), false},
		{inputsDir, "parameter_readers", cty.MapValEmpty(cty.List(cty.String)), true},
		{engineDir, "log_retention_days", num(365), true},
		{engineDir, "log_retention_days", num(100), false},
		{engineDir, "alarm_topic_arn", cty.NullVal(cty.String), true},
		{engineDir, "alarm_topic_arn", str("arn:aws:sns:eu-west-1:111122223333:alerts"), true},
		{engineDir, "alarm_topic_arn", str("alerts"), false},
		{engineDir, "lambda_memory_mb", num(256), true},
		{engineDir, "lambda_memory_mb", num(64), false},
		{engineDir, "lambda_memory_mb", cty.NumberFloatVal(256.5), false},
		{inputsDir, "kms_deletion_window_days", num(6), false},
		{engineDir, "function_error_alarm_threshold", num(0), false},
		{managedKeyDir, "user_name", str("s3-signer"), true},
		{managedKeyDir, "user_name", str("s3 signer"), false},
		{managedKeyDir, "state_machine_arn", str("arn:aws:states:eu-west-1:111122223333:stateMachine:keyrotor-rotate"), true},
		{managedKeyDir, "state_machine_arn", str("arn:aws:states:eu-west-1:111122223333:execution:keyrotor-rotate:x"), false},
		{managedKeyDir, "parameter_name", cty.NullVal(cty.String), true},
		{managedKeyDir, "parameter_name", str("/keyrotor/s3-signer"), true},
		{managedKeyDir, "parameter_name", str("/keyrotor/"), false},
		{managedKeyDir, "parameter_name", str("keyrotor/s3-signer"), false},
		{managedKeyDir, "format", str("raw"), true},
		{managedKeyDir, "format", str("yaml"), false},
		{managedKeyDir, "grace_seconds", num(0), true},
		{managedKeyDir, "grace_seconds", num(604801), false},
		{managedKeyDir, "inactive_seconds", num(2592000), true},
		{managedKeyDir, "inactive_seconds", num(-1), false},
		{managedKeyDir, "retry_max_attempts", num(186), false},
		{managedKeyDir, "maximum_event_age_seconds", num(59), false},
	}
	checkValidations(t, mods, tests)
}

// The module's schedule_expression check and the local engine's parser (internal/schedule)
// must agree on what EventBridge Scheduler accepts.
func TestScheduleExpressionValidationAgreesWithTheSchedulerParser(t *testing.T) {
	_, mods := load(t)
	for _, expr := range []string{
		"rate(30 days)", "rate(1 day)", "rate(12 hours)", "rate(5 minutes)", "rate(0 days)", "rate(days)",
		"rate(30 weeks)", "cron(0 3 1 * ? *)", "cron(0 3 * * ?)", "cron(15 10 ? * MON-FRI *)",
		"at(2030-01-01T03:00:00)", "at(2030-01-01)", "every 30 days", "",
	} {
		t.Run(expr, func(t *testing.T) {
			failed, err := mods[managedKeyDir].Validate("schedule_expression", cty.StringVal(expr))
			if err != nil {
				t.Fatal(err)
			}
			_, parseErr := schedule.Parse(expr, nil)
			if moduleOK, parserOK := len(failed) == 0, parseErr == nil; moduleOK != parserOK {
				t.Fatalf("module accepts: %v, internal/schedule accepts: %v (%v)", moduleOK, parserOK, parseErr)
			}
		})
	}
}
