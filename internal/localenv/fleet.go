package localenv

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/keyrotor/keyrotor/internal/iampolicy"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

// FleetASLPath is the fleet definition, relative to the repository root.
const FleetASLPath = "statemachine/rotate-fleet.asl.json"

// FleetDefinitionVars are the variables infra/modules/engine passes to templatefile for the
// fleet definition.
func FleetDefinitionVars(engine iampolicy.Engine) iampolicy.Vars {
	return iampolicy.Vars{
		"list_users_function_arn":  engine.FunctionARN("listusers"),
		"rotate_state_machine_arn": engine.StateMachineARN(),
	}
}

// RenderFleetDefinition renders statemachine/rotate-fleet.asl.json the way Terraform's
// templatefile does.
func RenderFleetDefinition(root string, engine iampolicy.Engine) (string, error) {
	def, err := iampolicy.RenderFile(filepath.Join(root, FleetASLPath), FleetDefinitionVars(engine))
	if err != nil {
		return "", fmt.Errorf("render %s: %w", FleetASLPath, err)
	}
	return def, nil
}

// FleetStateMachineARN is the fleet state machine (<name>-rotate-fleet), which Up deploys next
// to the rotation state machine; its Map runs the rotation machine per user as .sync:2 child
// executions, which the Step Functions server serves itself.
func (e *Env) FleetStateMachineARN() string { return e.Engine.FleetStateMachineARN() }

func (e *Env) createFleetStateMachine(ctx context.Context) error {
	def, err := RenderFleetDefinition(e.root, e.Engine)
	if err != nil {
		return fmt.Errorf("local engine: %w", err)
	}
	roleArn := fmt.Sprintf("arn:aws:iam::%s:role/%s-fleet", AccountID, Name)
	arn, err := e.StepFunctions.CreateStateMachine(ctx, e.Engine.FleetStateMachineName(), def, roleArn)
	if err != nil {
		return fmt.Errorf("local engine: create state machine %s from %s: %w", e.Engine.FleetStateMachineName(), FleetASLPath, err)
	}
	if arn != e.FleetStateMachineARN() {
		return fmt.Errorf("local engine: fleet state machine is %s, expected %s", arn, e.FleetStateMachineARN())
	}
	return nil
}

// FleetBucket is the engine's fleet bucket (infra/modules/engine/fleet.tf), in moto.
func (e *Env) FleetBucket() string { return e.Engine.FleetBucket() }

// FleetObjects reads and writes moto's S3 as the administrator: the fleet's users object, its
// report.
func (e *Env) FleetObjects() rotation.S3Store {
	return rotation.S3Store{Client: s3.NewFromConfig(e.Moto.AdminConfig(), func(o *s3.Options) { o.UsePathStyle = true })}
}

func (e *Env) createFleetBucket(ctx context.Context) error {
	client := e.FleetObjects().Client
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(e.FleetBucket())}); err != nil {
		return fmt.Errorf("local engine: create the fleet bucket %s: %w", e.FleetBucket(), err)
	}
	return nil
}

// CreateFleetUsers creates managed users (tagged keyrotor:managed=true) under an IAM path,
// each with keys access keys (0-2), as the administrator, a few at a time. A fleet execution
// with that pathPrefix rotates exactly them.
func (e *Env) CreateFleetUsers(ctx context.Context, path string, names []string, keys int) error {
	return e.CreateFleetUsersIn(ctx, "", path, names, keys)
}

// CreateFleetUsersIn is CreateFleetUsers in account ("": the engine's own).
func (e *Env) CreateFleetUsersIn(ctx context.Context, account, path string, names []string, keys int) error {
	if keys < 0 || keys > 2 {
		return fmt.Errorf("create fleet users: IAM allows 0-2 access keys, not %d", keys)
	}
	cfg, err := e.AccountConfig(account)
	if err != nil {
		return err
	}
	client := iam.NewFromConfig(cfg)
	errs := make([]error, len(names))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := client.CreateUser(ctx, &iam.CreateUserInput{
				UserName: aws.String(name), Path: aws.String(path),
				Tags: []iamtypes.Tag{{Key: aws.String(rotation.ManagedTagKey), Value: aws.String(rotation.ManagedTagValue)}},
			}); err != nil {
				errs[i] = fmt.Errorf("create user %s: %w", name, err)
				return
			}
			for range keys {
				if _, err := client.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)}); err != nil {
					errs[i] = fmt.Errorf("create access key of %s: %w", name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
