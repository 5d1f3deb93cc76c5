// Command trigger is keyrotor's entry for Terraform and the CLI (docs/steps.md): it starts a
// rotation and returns once the key is verified, or removes the managed keys on destroy.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/keyrotor/keyrotor/functions/trigger/entry"
	"github.com/keyrotor/keyrotor/internal/lambdamain"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

func main() {
	lambdamain.Main(lambdamain.Function[entry.Event, entry.Result]{
		Name:  rotation.TriggerFunction,
		Event: "a trigger event ({\"rotation\": {\"userName\": ...}}, plus \"tf\" from Terraform)",
		Setup: setup,
	})
}

func setup(_ context.Context, cfg aws.Config, log *slog.Logger) (lambdamain.Handler[entry.Event, entry.Result], error) {
	conf, err := rotation.ConfigFromEnv(false)
	if err != nil {
		return nil, err
	}
	machine := os.Getenv(rotation.EnvStateMachineARN)
	if machine == "" {
		return nil, fmt.Errorf("%s is not set; set it to the rotation state machine's ARN", rotation.EnvStateMachineARN)
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
		MemberAccounts:  conf.MemberAccounts,
	}
	if members := rotation.NewMembers(cfg, conf, rotation.TriggerFunction, nil); members != nil {
		// Destroy and update act in a member account through its keyrotor-target role; no
		// execution acts, so the session is named after the trigger.
		partition := rotation.PartitionOf(machine)
		t.Member = func(ctx context.Context, account string) (entry.KeyRemover, entry.ParameterRemover, error) {
			mcfg, err := members.Config(ctx, account, partition, "keyrotor-trigger")
			if err != nil {
				return nil, nil, err
			}
			return iam.NewFromConfig(mcfg), ssm.NewFromConfig(mcfg), nil
		}
	}
	return t.Handle, nil
}
