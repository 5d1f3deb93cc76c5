package rotation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awstransport "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Error names: the Lambda errorType the state machine's Retry and Catch match on.
const (
	InvalidInput       = "InvalidInput"
	UserNotFound       = "UserNotFound"
	UserNotManaged     = "UserNotManaged"
	RotationInProgress = "RotationInProgress"
	TooManyActiveKeys  = "TooManyActiveKeys"
	ParameterConflict  = "ParameterConflict"
	// ParameterMismatch: parameterName is not the user's parameter (or contradicts its
	// keyrotor:parameter tag) and the input did not ask for a move.
	ParameterMismatch = "ParameterMismatch"
	// FormatMismatch: format differs from the parameter's recorded format (or the user's
	// keyrotor:format tag) and the input did not ask for a format change.
	FormatMismatch = "FormatMismatch"
	// NotAuthorized: a step request its execution's record (the lock, record.go) does not back:
	// not that execution's, not RUNNING, out of order, or claiming what the record does not say.
	NotAuthorized = "NotAuthorized"
	// UnknownKey names why an old key keyrotor never recorded creating is kept inactive.
	UnknownKey         = "UnknownKey"
	KeyNotYetValid     = "KeyNotYetValid"
	VerificationFailed = "VerificationFailed"
	AccessDenied       = "AccessDenied"
	Throttled          = "Throttled"
	ServiceUnavailable = "ServiceUnavailable"
	// RotationFailed and RotationStillRunning are the trigger's: the rotation it started ended
	// without a verified key, or had not verified one before the invocation's deadline.
	RotationFailed       = "RotationFailed"
	RotationStillRunning = "RotationStillRunning"
	// CutOverNotSeen is the error of a fleet child that stopped waiting for its rotation's
	// cut-over (internal/fleet cutover.go); the rotation itself goes on.
	CutOverNotSeen = "CutOverNotSeen"
	// UnexpectedError names any other failure.
	UnexpectedError = "UnexpectedError"
)

// Error is keyrotor's one error type (the steps', the fleet listing's and the trigger's): a
// failure with a stable Name, the Lambda errorType that Retry and Catch match, and a Message a
// person can act on, which already says what Err (kept for errors.Is/As) said.
type Error struct {
	Name    string
	Message string
	Err     error
}

func (e *Error) Error() string { return e.Message }

func (e *Error) Unwrap() error { return e.Err }

// NewError names a failure; the cause's text ends the message, which ends as a sentence does
// (the CLI and the Fail state's Cause show it to a person as it is).
func NewError(name string, cause error, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if cause != nil {
		msg += ": " + cause.Error()
	}
	return &Error{Name: name, Message: sentence(msg), Err: cause}
}

// sentence ends msg with a full stop unless it already ends with one (or with ? or !).
func sentence(msg string) string {
	msg = strings.TrimRight(msg, " \n")
	if msg == "" || strings.HasSuffix(msg, ".") || strings.HasSuffix(msg, "?") || strings.HasSuffix(msg, "!") {
		return msg
	}
	return msg + "."
}

// ErrorName is the stable name of err: its *Error's Name, or UnexpectedError.
func ErrorName(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Name
	}
	return UnexpectedError
}

// accessDeniedCodes are the codes AWS uses when a policy does not allow a call.
var accessDeniedCodes = map[string]bool{
	"AccessDenied": true, "AccessDeniedException": true, "UnauthorizedOperation": true,
}

// iamPrefixes maps SDK service ids to IAM action prefixes, so AccessDenied names what to grant.
var iamPrefixes = map[string]string{"IAM": "iam", "SSM": "ssm", "KMS": "kms", "STS": "sts", "SFN": "states", "Organizations": "organizations", "S3": "s3", "EventBridge": "events"}

// Classify turns an AWS SDK error into a named Error when it is throttling, a server-side or
// network failure, or a missing permission; other errors are wrapped with what was being done.
func Classify(err error, doing string) error {
	if err == nil {
		return nil
	}
	var named *Error
	if errors.As(err, &named) {
		return err
	}
	action := ""
	var opErr *smithy.OperationError
	if errors.As(err, &opErr) {
		action = iamPrefixes[opErr.ServiceID] + ":" + opErr.OperationName
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		if _, ok := retry.DefaultThrottleErrorCodes[code]; ok {
			return NewError(Throttled, err, "%s: AWS throttled %s", doing, action)
		}
		if accessDeniedCodes[code] {
			return NewError(AccessDenied, err, "%s: not allowed to call %s; grant %s to this function's role", doing, action, action)
		}
	}
	var respErr *awstransport.ResponseError
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() >= 500 {
		return NewError(ServiceUnavailable, err, "%s: AWS failed (HTTP %d) on %s", doing, respErr.HTTPStatusCode(), action)
	}
	// No answer, or an answer whose connection failed before it was read whole: the call's
	// outcome is unknown, as after a 5xx, and every step is retried on ServiceUnavailable from
	// its record (a make test once had GetCallerIdentity's 200 cut off by a closed connection).
	var netErr net.Error
	var sendErr *smithyhttp.RequestSendError
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) || errors.As(err, &sendErr) || errors.Is(err, io.ErrUnexpectedEOF) {
		return NewError(ServiceUnavailable, err, "%s: no answer from AWS for %s", doing, action)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// hasCode reports whether err is an AWS API error with one of the codes.
func hasCode(err error, codes ...string) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	for _, c := range codes {
		if strings.EqualFold(apiErr.ErrorCode(), c) {
			return true
		}
	}
	return false
}
