package localenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/localaws/lambdahost"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// lambdaInvokeResource is the optimized Lambda integration; its Parameters carry FunctionName
// and Payload and its result wraps the function's answer in Payload.
const lambdaInvokeResource = "arn:aws:states:::lambda:invoke"

// InvokeTask runs a Task state's Lambda on the host: `arn:aws:lambda:…:function:<name>`
// (direct) or `arn:aws:states:::lambda:invoke`. A function error becomes a task failure named
// by the function's errorType with the function's error document as Cause, as Step Functions
// reports it.
func (e *Env) InvokeTask(ctx context.Context, req sfnlocal.TaskRequest) (json.RawMessage, error) {
	resource := req.Resource
	payload := []byte(req.Input)
	wrap := false
	switch {
	case strings.HasPrefix(resource, lambdaInvokeResource):
		var p struct {
			FunctionName string          `json:"FunctionName"`
			Payload      json.RawMessage `json:"Payload"`
		}
		if err := json.Unmarshal(req.Input, &p); err != nil || p.FunctionName == "" {
			return nil, sfnlocal.NewTaskFailure("States.Runtime",
				fmt.Sprintf("state %s: %s needs Parameters with FunctionName and Payload", req.StateName, lambdaInvokeResource))
		}
		resource, payload, wrap = p.FunctionName, p.Payload, true
		if len(payload) == 0 {
			payload = []byte("{}")
		}
	case strings.HasPrefix(resource, "arn:aws:lambda:") && strings.Contains(resource, ":function:"):
	default:
		return nil, sfnlocal.NewTaskFailure("States.Runtime",
			fmt.Sprintf("state %s: resource %s is not served by the local engine (it runs Lambda functions and the states:startExecution integrations)", req.StateName, resource))
	}
	res, err := e.Lambda.Invoke(ctx, resource, payload)
	if err != nil {
		if errors.Is(err, lambdahost.ErrFunctionNotFound) {
			return nil, sfnlocal.NewTaskFailure("Lambda.ResourceNotFoundException", err.Error())
		}
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, sfnlocal.NewTaskFailure("Lambda.ServiceException", err.Error())
	}
	if res.FunctionError != "" {
		name := res.ErrorType
		if name == "" {
			name = "Lambda.Unknown"
		}
		return nil, sfnlocal.NewTaskFailure(name, string(res.Payload))
	}
	if wrap {
		return json.Marshal(map[string]any{
			"ExecutedVersion": res.ExecutedVersion, "Payload": json.RawMessage(res.Payload), "StatusCode": 200,
			"SdkHttpMetadata": map[string]any{"HttpStatusCode": 200},
		})
	}
	return res.Payload, nil
}

// DefinitionVars are the variables infra/modules/engine passes to templatefile for the
// rotation definition.
func DefinitionVars(engine deployed.Engine) deployed.Vars {
	return deployed.Vars{
		"create_key_function_arn":      engine.FunctionARN("createkey"),
		"store_parameter_function_arn": engine.FunctionARN("storeparam"),
		"verify_key_function_arn":      engine.FunctionARN("verifykey"),
		"delete_old_keys_function_arn": engine.FunctionARN("deleteoldkeys"),
	}
}

func (e *Env) createStateMachine(ctx context.Context) error {
	arn, def, err := e.deployStateMachine(ctx, e.Engine.StateMachineName(), ASLPath, DefinitionVars(e.Engine), "state-machine")
	if err != nil {
		return err
	}
	e.StateMachineARN, e.Definition = arn, def
	return nil
}

// deployStateMachine renders the definition at aslPath (relative to the repository root) with
// vars, as Terraform's templatefile does, and creates the state machine name with the role
// <Name>-<role>, as infra/modules/engine does.
func (e *Env) deployStateMachine(ctx context.Context, name, aslPath string, vars deployed.Vars, role string) (arn, def string, err error) {
	def, err = deployed.RenderFile(filepath.Join(e.root, aslPath), vars)
	if err != nil {
		return "", "", fmt.Errorf("local engine: render %s: %w", aslPath, err)
	}
	roleArn := fmt.Sprintf("arn:aws:iam::%s:role/%s-%s", AccountID, Name, role)
	if arn, err = e.StepFunctions.CreateStateMachine(ctx, name, def, roleArn); err != nil {
		return "", "", fmt.Errorf("local engine: create state machine %s from %s: %w", name, aslPath, err)
	}
	return arn, def, nil
}
