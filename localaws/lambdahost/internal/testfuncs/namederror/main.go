// Command namederror is a test Lambda that fails every invocation with a named error type.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
)

func main() {
	lambda.Start(func() error {
		return messages.InvokeResponse_Error{Type: "TooManyActiveKeys", Message: "user signer already has two active keys"}
	})
}
