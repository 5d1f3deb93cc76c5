// Command echo is a test Lambda: it answers with its event, its process id and request id, and
// logs one line per invocation (plus the value of an environment variable when asked, so tests
// can prove the host redacts secrets from captured logs).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Message  string `json:"message"`
	PrintEnv string `json:"printEnv"`
}

type answer struct {
	Message   string `json:"message"`
	PID       int    `json:"pid"`
	RequestID string `json:"requestId"`
	Function  string `json:"function"`
	Timezone  string `json:"tz"`
}

func main() {
	fmt.Println("echo init")
	lambda.Start(func(ctx context.Context, e event) (answer, error) {
		lc, _ := lambdacontext.FromContext(ctx)
		fmt.Printf("echo got %q\n", e.Message)
		if e.PrintEnv != "" {
			fmt.Fprintf(os.Stderr, "%s=%s\n", e.PrintEnv, os.Getenv(e.PrintEnv))
		}
		out, _ := json.Marshal(e)
		fmt.Fprintf(os.Stderr, "event %s\n", out)
		return answer{Message: e.Message, PID: os.Getpid(), RequestID: lc.AwsRequestID,
			Function: lambdacontext.FunctionName, Timezone: os.Getenv("TZ")}, nil
	})
}
