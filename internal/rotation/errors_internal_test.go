package rotation

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
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

// An answer that never arrives whole leaves the call's outcome unknown: the step fails
// ServiceUnavailable, which every state retries. A request AWS refused keeps its own name.
func TestLostAnswersAreServiceUnavailable(t *testing.T) {
	op := func(err error) error {
		return &smithy.OperationError{ServiceID: "STS", OperationName: "GetCallerIdentity", Err: err}
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"connection closed while the 200's body was read", op(&smithy.DeserializationError{Err: &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}}), ServiceUnavailable},
		{"connection reset while the body was read", op(&smithy.DeserializationError{Err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}), ServiceUnavailable},
		{"body cut short", op(&smithy.DeserializationError{Err: io.ErrUnexpectedEOF}), ServiceUnavailable},
		{"no answer before the deadline", op(context.DeadlineExceeded), ServiceUnavailable},
		{"a body that is not XML is no lost answer", op(&smithy.DeserializationError{Err: errors.New("expected element type <GetCallerIdentityResponse>")}), ""},
		{"refused", op(&smithy.GenericAPIError{Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			var named *Error
			if errors.As(Classify(tt.err, "verify"), &named) {
				got = named.Name
			}
			if got != tt.want {
				t.Errorf("Classify(%v) is named %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
