package sfnapi_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// CreateStateMachine refuses a Distributed-only field on an INLINE Map as AWS refuses what its
// schema validation rejects: InvalidDefinition, "Invalid State Machine Definition:
// 'SCHEMA_VALIDATION_FAILED: <what> at <JSON pointer>'" (the recorded shape in
// localstack/localstack tests/aws/services/stepfunctions/v2/test_sfn_api_validation.snapshot.json
// and tests/aws/services/stepfunctions/v2/scenarios/test_base_scenarios.snapshot.json).
func TestCreateStateMachineRefusesDistributedFieldsOnAnInlineMap(t *testing.T) {
	h := newHarness(t)
	def := `{"StartAt":"RotateEach","States":{"RotateEach":{"Type":"Map","ItemsPath":"$.users","ToleratedFailurePercentagePath":"$.pct",
		"ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},"StartAt":"R","States":{"R":{"Type":"Succeed"}}},"End":true}}}`
	_, err := h.client.CreateStateMachine(context.Background(), &sfn.CreateStateMachineInput{
		Name: aws.String("fleet"), Definition: aws.String(def), RoleArn: aws.String(roleArn)})
	var invalid *types.InvalidDefinition
	if !errors.As(err, &invalid) {
		t.Fatalf("CreateStateMachine error = %v, want InvalidDefinition", err)
	}
	want := "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: The field 'ToleratedFailurePercentagePath' is supported only by a Map state in DISTRIBUTED mode; set ItemProcessor.ProcessorConfig.Mode to DISTRIBUTED or remove it at /States/RotateEach'"
	if got := aws.ToString(invalid.Message); got != want {
		t.Errorf("message\n got %s\nwant %s", got, want)
	}
}
