// Command trigger is keyrotor's entry for Terraform and the CLI (docs/steps.md): it starts a
// rotation and returns once the key is verified, or removes the managed keys on destroy.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/keyrotor/keyrotor/functions/trigger/entry"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	fail := func(msg string, err error) {
		log.Error("keyrotor trigger cannot start: "+msg, "error", err.Error())
		os.Exit(1)
	}
	conf, err := rotation.ConfigFromEnv(false)
	if err != nil {
		fail("configuration", err)
	}
	machine := os.Getenv("KEYROTOR_STATE_MACHINE_ARN")
	if machine == "" {
		fail("configuration", errors.New("KEYROTOR_STATE_MACHINE_ARN is not set; set it to the rotation state machine's ARN"))
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fail("load AWS configuration", err)
	}
	t := &entry.Trigger{
		StateMachineARN: machine,
		ParameterPrefix: conf.ParameterPrefix,
		Executions:      sfn.NewFromConfig(cfg),
		IAM:             iam.NewFromConfig(cfg),
		SSM:             ssm.NewFromConfig(cfg),
		Logger:          log,
		PollInterval:    time.Second,
		MaxPollInterval: 10 * time.Second,
		DeadlineMargin:  5 * time.Second,
	}
	lambda.Start(func(ctx context.Context, ev entry.Event) (entry.Result, error) {
		res, err := t.Handle(ctx, ev)
		if err != nil {
			name := entry.AWSError
			var e *entry.Error
			if errors.As(err, &e) {
				name = e.Name
			}
			log.Error("trigger failed", "error", name, "message", err.Error())
			return entry.Result{}, messages.InvokeResponse_Error{Type: name, Message: err.Error()}
		}
		return res, nil
	})
}
