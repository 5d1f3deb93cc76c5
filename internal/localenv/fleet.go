package localenv

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/fleet"
)

// FleetASLPath is the fleet definition, relative to the repository root.
const FleetASLPath = "statemachine/rotate-fleet.asl.json"

// FleetDefinitionVars are the variables infra/modules/engine passes to templatefile for the
// fleet definition.
func FleetDefinitionVars(engine deployed.Engine) deployed.Vars {
	return deployed.Vars{
		"list_users_function_arn":  engine.FunctionARN("listusers"),
		"rotate_state_machine_arn": engine.StateMachineARN(),
	}
}

// FleetStateMachineARN is the fleet state machine (<name>-rotate-fleet), which Up deploys next
// to the rotation state machine; its Map runs the rotation machine per user as .sync:2 child
// executions, which the Step Functions server serves itself.
func (e *Env) FleetStateMachineARN() string { return e.Engine.FleetStateMachineARN() }

func (e *Env) createFleetStateMachine(ctx context.Context) error {
	arn, _, err := e.deployStateMachine(ctx, e.Engine.FleetStateMachineName(), FleetASLPath, FleetDefinitionVars(e.Engine), "fleet")
	if err != nil {
		return err
	}
	if arn != e.FleetStateMachineARN() {
		return fmt.Errorf("local engine: fleet state machine is %s, expected %s", arn, e.FleetStateMachineARN())
	}
	return nil
}

// FleetBucket is the engine's fleet bucket (infra/modules/engine/fleet.tf), in moto.
func (e *Env) FleetBucket() string { return e.Engine.FleetBucket() }

// fleetObjects reads and writes moto's S3 as the administrator: the fleet's users object, its
// report.
func (e *Env) fleetObjects() fleet.S3Store {
	return fleet.S3Store{Client: s3.NewFromConfig(e.Moto.AdminConfig(), func(o *s3.Options) { o.UsePathStyle = true })}
}

func (e *Env) createFleetBucket(ctx context.Context) error {
	client := e.fleetObjects().Client
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(e.FleetBucket())}); err != nil {
		return fmt.Errorf("local engine: create the fleet bucket %s: %w", e.FleetBucket(), err)
	}
	return nil
}
