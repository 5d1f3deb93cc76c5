// Command verifykey is the keyrotor Lambda serving the rotation actions verify
// (docs/steps.md).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

func main() {
	steps, err := rotation.StepsFromEnv(context.Background(), false, rotation.NewVerifyKeySteps)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("keyrotor verifykey cannot start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(steps.Handler("verify"))
}
