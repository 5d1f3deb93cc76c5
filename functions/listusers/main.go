// Command listusers is the keyrotor Lambda that lists the IAM users tagged
// keyrotor:managed=true, one page per call, for the fleet state machine (docs/steps.md).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

func main() {
	lister, err := rotation.ListerFromEnv(context.Background())
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("keyrotor listusers cannot start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(lister.Handler())
}
