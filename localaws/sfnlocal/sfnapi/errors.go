package sfnapi

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes this server returns; each is the name of a Step Functions exception, so the sfn
// SDK client decodes it as its typed error (e.g. *types.StateMachineDoesNotExist) and the AWS
// CLI prints it as "An error occurred (<Code>)".
const (
	CodeExecutionAlreadyExists       = "ExecutionAlreadyExists"
	CodeExecutionDoesNotExist        = "ExecutionDoesNotExist"
	CodeInvalidArn                   = "InvalidArn"
	CodeInvalidDefinition            = "InvalidDefinition"
	CodeInvalidExecutionInput        = "InvalidExecutionInput"
	CodeInvalidName                  = "InvalidName"
	CodeInvalidToken                 = "InvalidToken"
	CodeMissingRequiredParameter     = "MissingRequiredParameter"
	CodeStateMachineAlreadyExists    = "StateMachineAlreadyExists"
	CodeStateMachineDoesNotExist     = "StateMachineDoesNotExist"
	CodeStateMachineTypeNotSupported = "StateMachineTypeNotSupported"
	CodeValidationException          = "ValidationException"
	CodeSerializationException       = "SerializationException"
	CodeUnknownOperation             = "UnknownOperationException"
	CodeServiceUnavailable           = "ServiceUnavailable"
	CodeResourceNotFound             = "ResourceNotFound"
)

// Error is a Step Functions API error: the exception name and a message saying what was
// wrong and what to do. The Go methods of Server return it too.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// status is the HTTP status AWS sends with the exception.
func (e *Error) status() int {
	switch e.Code {
	case CodeServiceUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadRequest
	}
}

func apiErr(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// IsCode reports whether err is (or wraps) an *Error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
