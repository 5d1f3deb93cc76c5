package localenv

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/fleet"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/lambdahost"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// trustPolicy is a function role's trust policy. The engine module trusts
// lambda.amazonaws.com; locally the Lambda service's AssumeRole is made by moto's
// administrator, and moto checks trust policies, so it is trusted as well.
func trustPolicy() string {
	admin := fmt.Sprintf("arn:aws:iam::%s:user/%s", AccountID, motoserver.AdminUserName)
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com","AWS":"` +
		admin + `"},"Action":"sts:AssumeRole"}]}`
}

// RolePolicy is the policy Up attaches to fn's role: the action list of the policy that
// infra/modules/engine renders for fn, on every resource. moto checks actions and matches every
// resource as "*", so this is what it can enforce; resources and conditions are checked
// exactly by internal/harness/leastprivilege.
func (e *Env) RolePolicy(fn string) (string, error) {
	doc, err := e.Engine.FunctionPolicy(fn)
	if err != nil {
		return "", err
	}
	actions := doc.AllowedActions()
	// With member accounts the engine module lets the functions assume the keyrotor-target
	// role of each (sts:AssumeRole on those roles only).
	if e.opts.Accounts > 0 && !slices.Contains(actions, "sts:AssumeRole") {
		actions = append(actions, "sts:AssumeRole")
	}
	b, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Sid": "EngineModuleActions", "Effect": "Allow", "Action": actions, "Resource": "*",
		}},
	})
	return string(b), err
}

func (e *Env) putRolePolicy(ctx context.Context, fn, policy string) error {
	role := e.Engine.FunctionName(fn)
	if _, err := iam.NewFromConfig(e.Moto.AdminConfig()).PutRolePolicy(ctx, &iam.PutRolePolicyInput{
		RoleName: aws.String(role), PolicyName: aws.String(role), PolicyDocument: aws.String(policy),
	}); err != nil {
		return fmt.Errorf("put the policy of role %s: %w", role, err)
	}
	return nil
}

func (e *Env) createRoles(ctx context.Context) error {
	client := iam.NewFromConfig(e.Moto.AdminConfig())
	for _, fn := range deployed.Functions {
		policy, err := e.RolePolicy(fn)
		if err != nil {
			return fmt.Errorf("local engine: role of %s: %w", fn, err)
		}
		role := e.Engine.FunctionName(fn)
		resent, err := motoserver.CreateOnce(func(opt func(*iam.Options)) error {
			_, err := client.CreateRole(ctx, &iam.CreateRoleInput{
				RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String(trustPolicy()),
				Description: aws.String("keyrotor " + fn + " function"),
			}, opt)
			return err
		})
		if err != nil {
			return fmt.Errorf("local engine: create role %s: %w", role, err)
		}
		if resent != "" {
			e.log.Warn("local engine: CreateRole was sent again; its first attempt made the role", "role", role, "attempts", resent)
		}
		if err := e.putRolePolicy(ctx, fn, policy); err != nil {
			return fmt.Errorf("local engine: %w", err)
		}
	}
	return nil
}

// assume returns fresh AssumeRole credentials of fn's role.
func (e *Env) assume(ctx context.Context, fn string) (aws.Credentials, error) {
	out, err := sts.NewFromConfig(e.Moto.AdminConfig()).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String(e.Engine.RoleARN(fn)),
		RoleSessionName: aws.String(e.Engine.FunctionName(fn)),
		DurationSeconds: aws.Int32(int32(e.opts.CredentialLifetime / time.Second)),
	})
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("local engine: assume role %s: %w", e.Engine.RoleARN(fn), err)
	}
	c := out.Credentials
	// The proxy evaluates the function's AssumeRole of member roles as this role (aws:PrincipalArn).
	e.Proxy.SetPrincipal(aws.ToString(c.AccessKeyId), e.Engine.RoleARN(fn))
	return aws.Credentials{
		AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken: aws.ToString(c.SessionToken), CanExpire: true, Expires: aws.ToTime(c.Expiration),
	}, nil
}

// FunctionEnv is fn's environment (without credentials): the engine module's variables plus
// the endpoint overrides that point the SDK at the local engine.
func (e *Env) FunctionEnv(fn string) map[string]string {
	env := map[string]string{
		"AWS_ENDPOINT_URL":          e.AWSEndpoint,
		"AWS_ENDPOINT_URL_SFN":      e.Endpoint,
		"AWS_ENDPOINT_URL_LAMBDA":   e.Endpoint,
		rotation.EnvParameterPrefix: e.ParameterPrefix,
		// The local engine (tests, demo) waits on a virtual or short clock: its floors are 0,
		// set explicitly, unless Options.EngineFloors asks for a deployed engine's defaults.
		rotation.EnvMinGraceSeconds:    "0",
		rotation.EnvMinInactiveSeconds: "0",
		// Files that do not exist: the user's ~/.aws must not leak into a function.
		"AWS_CONFIG_FILE":             filepath.Join(e.home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(e.home, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	}
	if e.opts.EngineFloors {
		env[rotation.EnvMinGraceSeconds] = strconv.Itoa(rotation.DefaultMinGraceSeconds)
		env[rotation.EnvMinInactiveSeconds] = strconv.Itoa(rotation.DefaultMinInactiveSeconds)
	}
	if e.opts.Accounts > 0 {
		env[rotation.EnvMemberAccounts] = strings.Join(e.MemberAccountIDs(), ",")
		env[rotation.EnvTargetExternalID] = ExternalID
	}
	switch fn {
	case "createkey", "storeparam":
		env[rotation.EnvKMSKeyID] = e.KMSKeyARN
	case "verifykey":
		if e.opts.PropagationSeconds > 0 {
			env[rotation.EnvPropagationSeconds] = strconv.Itoa(e.opts.PropagationSeconds)
		}
	case "trigger":
		env[rotation.EnvStateMachineARN] = e.Engine.StateMachineARN()
	case "listusers":
		env[fleet.EnvBucket] = e.Engine.FleetBucket()
	}
	return env
}

// deploy (re)deploys fn with creds as its own role's credentials.
func (e *Env) deploy(fn string, creds aws.Credentials) error {
	env := e.FunctionEnv(fn)
	env["AWS_ACCESS_KEY_ID"] = creds.AccessKeyID
	env["AWS_SECRET_ACCESS_KEY"] = creds.SecretAccessKey
	env["AWS_SESSION_TOKEN"] = creds.SessionToken
	timeout := e.opts.FunctionTimeout
	if fn == "trigger" {
		timeout = 900 * time.Second
	}
	arn, err := e.Lambda.Deploy(lambdahost.Function{
		Name: e.Engine.FunctionName(fn), Path: BootstrapPath(e.root, fn), Env: env,
		SecretEnv: []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"},
		Timeout:   timeout, MemoryMB: 128, MaxConcurrency: 60,
	})
	if err != nil {
		return fmt.Errorf("local engine: %w", err)
	}
	e.arnMu.Lock()
	e.FunctionARNs[fn] = arn
	e.arnMu.Unlock()
	if e.opts.OnCredentials != nil {
		e.opts.OnCredentials(fn, creds.AccessKeyID, creds.Expires)
	}
	return nil
}

func (e *Env) deployAll(ctx context.Context) error {
	for _, fn := range deployed.Functions {
		creds, err := e.assume(ctx, fn)
		if err != nil {
			return err
		}
		if err := e.deploy(fn, creds); err != nil {
			return err
		}
	}
	return nil
}

func (e *Env) refreshLoop() {
	defer e.bg.Done()
	every := e.opts.CredentialLifetime * 3 / 4
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			// A new AssumeRole session for every function; running invocations finish on the old one.
			if err := e.deployAll(ctx); err != nil {
				e.log.Error("refresh function credentials", "error", err.Error())
			} else {
				e.log.Info("function credentials refreshed")
			}
			cancel()
		}
	}
}
