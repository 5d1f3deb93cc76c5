// Command crasher is a test Lambda whose process exits in the middle of an invocation, or panics
// (aws-lambda-go reports the panic, then exits), when the event asks it to, and answers with its
// process id otherwise.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(e struct{ Crash, Panic bool }) (int, error) {
		if e.Panic {
			panic("keyrotor test panic")
		}
		if e.Crash {
			fmt.Println("crashing now")
			os.Exit(3)
		}
		return os.Getpid(), nil
	})
}
