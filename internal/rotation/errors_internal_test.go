package rotation

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// A cause is shown to a person as it is (the CLI, the Fail state's Cause), so every message
// ends as a sentence, whether it ends with keyrotor's words or with AWS's.
func TestEveryErrorMessageEndsWithAFullStop(t *testing.T) {
	tests := []struct {
		name   string
		cause  error
		format string
		want   string
	}{
		{"keyrotor's words", nil, "IAM user %s does not exist", "IAM user bob does not exist."},
		{"already a sentence", nil, "IAM user %s does not exist.", "IAM user bob does not exist."},
		{"AWS's words without a full stop", errors.New("api error NoSuchEntity: user bob"), "read %s", "read bob: api error NoSuchEntity: user bob."},
		{"AWS's words with one", errors.New("The user with name bob cannot be found."), "read %s", "read bob: The user with name bob cannot be found."},
		{"a question", nil, "is %s in use?", "is bob in use?"},
		{"trailing space", nil, "stopped %s ", "stopped bob."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewError(InvalidInput, tt.cause, tt.format, "bob").Error(); got != tt.want {
				t.Errorf("message %q, want %q", got, tt.want)
			}
		})
	}
}

// An AccessDenied names the IAM action to grant, with its service's IAM prefix (which is not
// the SDK's service id: SFN is states, EventBridge is events), for every service the steps call.
func TestAccessDeniedNamesTheActionToGrantForEveryServiceTheStepsCall(t *testing.T) {
	for serviceID, prefix := range map[string]string{
		iam.ServiceID: "iam", ssm.ServiceID: "ssm", kms.ServiceID: "kms", sts.ServiceID: "sts", sfn.ServiceID: "states",
		organizations.ServiceID: "organizations", s3.ServiceID: "s3", eventbridge.ServiceID: "events",
	} {
		t.Run(serviceID, func(t *testing.T) {
			err := &smithy.OperationError{ServiceID: serviceID, OperationName: "DoIt", Err: &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized"}}
			got := Classify(err, "do it")
			if ErrorName(got) != AccessDenied || !strings.Contains(got.Error(), "grant "+prefix+":DoIt to this function's role") {
				t.Errorf("%s: %v, want AccessDenied saying grant %s:DoIt", ErrorName(got), got, prefix)
			}
		})
	}
}
