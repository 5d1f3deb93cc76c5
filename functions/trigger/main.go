// Command trigger is keyrotor's entry for Terraform and the CLI (docs/steps.md): it starts a
// rotation and returns once the key is verified, or removes the managed keys on destroy. Its
// logic is the domain's (internal/rotation: Trigger).
package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keyrotor/keyrotor/internal/lambdamain"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

func main() {
	lambdamain.Main(lambdamain.Function[rotation.TriggerEvent, rotation.TriggerResult]{
		Name:  rotation.TriggerFunction,
		Event: "a trigger event ({\"rotation\": {\"userName\": ...}}, plus \"tf\" from Terraform)",
		Setup: func(_ context.Context, cfg aws.Config, log *slog.Logger) (lambdamain.Handler[rotation.TriggerEvent, rotation.TriggerResult], error) {
			t, err := rotation.NewTrigger(cfg, log)
			if err != nil {
				return nil, err
			}
			return t.Handle, nil
		},
	})
}
