// Command deleteoldkeys is the keyrotor Lambda serving the rotation actions deactivate, delete, rollback, release
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
	steps, err := rotation.StepsFromEnv(context.Background(), false, rotation.NewDeleteOldKeysSteps)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("keyrotor deleteoldkeys cannot start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(steps.Handler("deactivate", "delete", "rollback", "release"))
}
