package rotation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/lambdahost"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// The attack fuzzer's world beyond the shared moto's own account: a member account set up as
// the local engine sets one up (internal/localenv/accounts.go, infra/modules/member-account:
// the keyrotor-target role and the member KMS key), and the trigger Lambda, the built
// bootstrap run by the local Lambda host, as Terraform's aws_lambda_invocation invokes it.

// attackMember is the fuzzer's member account; attackExternalID the engine's external id.
const (
	attackMember     = "111111111111"
	attackExternalID = "keyrotor-attack-fuzzer"
)

// account is one account of the fuzzer's world, as its administrator (through the proxy).
type awsAccount struct {
	id  string // "" for moto's own (the hub)
	iam *iam.Client
	ssm *ssm.Client
}

var member *awsAccount // set up once per test binary

// memberAccount sets up attackMember in the shared moto: its administrator role (moto's
// authorization needs a role there before anything else, so the first three calls run in a
// window without authorization, /moto-api/reset-auth), the keyrotor-target role with the
// member role's actions, and the member KMS key.
func memberAccount(ctx context.Context, t *testing.T) *awsAccount {
	t.Helper()
	if member != nil {
		return member
	}
	if err := world.moto.ResetAuth(ctx, 3); err != nil {
		t.Fatal(err)
	}
	out, err := sts.NewFromConfig(world.moto.AdminConfig()).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + attackMember + ":role/" + localenv.MemberAdminRole), RoleSessionName: aws.String("attack-fuzzer"),
		DurationSeconds: aws.Int32(43200),
	})
	if err != nil {
		t.Fatalf("assume the member's admin role: %v", err)
	}
	c := out.Credentials
	admin := aws.Credentials{AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey), SessionToken: aws.ToString(c.SessionToken)}
	world.proxy.AddCredentials(admin)
	direct := iam.NewFromConfig(motoserver.Config(world.moto.Endpoint, admin))
	trustHub := func(principal string) *string {
		b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
			"Effect": "Allow", "Principal": map[string]any{"AWS": principal}, "Action": "sts:AssumeRole"}}})
		return aws.String(string(b))
	}
	allowAll := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	if _, err := direct.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(localenv.MemberAdminRole),
		AssumeRolePolicyDocument: trustHub("arn:aws:iam::" + motoserver.AccountID + ":user/" + motoserver.AdminUserName)}); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(localenv.MemberAdminRole), PolicyName: aws.String("admin"), PolicyDocument: aws.String(allowAll)}); err != nil {
		t.Fatal(err)
	}
	cfg := motoserver.Config(world.proxy.URL, admin)
	m := &awsAccount{id: attackMember, iam: iam.NewFromConfig(cfg), ssm: ssm.NewFromConfig(cfg)}
	if _, err := m.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(rotation.TargetRoleName), Path: aws.String(rotation.TargetRolePath),
		AssumeRolePolicyDocument: trustHub("arn:aws:iam::" + motoserver.AccountID + ":root")}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.iam.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(rotation.TargetRoleName), PolicyName: aws.String(rotation.TargetRoleName),
		PolicyDocument: aws.String(localenv.TargetRolePolicy(localenv.MemberRoleActions))}); err != nil {
		t.Fatal(err)
	}
	k := kms.NewFromConfig(cfg)
	key, err := k.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("keyrotor member key (attack fuzzer)")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(rotation.MemberKMSKeyAlias), TargetKeyId: key.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	member = m
	return m
}

// hub is moto's own account as its administrator.
func hub() *awsAccount { return &awsAccount{iam: world.iam, ssm: world.ssm} }

// attackConfig is the engine's configuration with the member account.
func attackConfig() rotation.Config {
	return rotation.Config{KMSKeyID: world.kmsKeyID, ParameterPrefix: rotation.DefaultParameterPrefix, PropagationWindow: 2 * time.Minute,
		MemberAccounts: []string{attackMember}, TargetExternalID: attackExternalID}
}

// triggerHost deploys the trigger's bootstrap (build/host/trigger, built here if `make build`
// has not) with the engine's environment: moto's stand-in state machine, whose executions stay
// RUNNING, so create and update answer RotationStillRunning once they started one, and delete
// and update's clean-up run their checks against moto.
func triggerHost(t *testing.T) (*lambdahost.Host, string) {
	t.Helper()
	bin, err := filepath.Abs("../../build/host/trigger/bootstrap")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); errors.Is(err, os.ErrNotExist) {
		bin = filepath.Join(t.TempDir(), "trigger", "bootstrap")
		build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "../../functions/trigger")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build the trigger: %v\n%s", err, out)
		}
	}
	h := lambdahost.New(lambdahost.Options{})
	t.Cleanup(func() { _ = h.Close() })
	admin := world.moto.Admin
	home := t.TempDir()
	arn, err := h.Deploy(lambdahost.Function{Name: "keyrotor-trigger", Path: bin, Timeout: 2 * time.Second, Env: map[string]string{
		"AWS_ACCESS_KEY_ID": admin.AccessKeyID, "AWS_SECRET_ACCESS_KEY": admin.SecretAccessKey,
		"AWS_ENDPOINT_URL": world.proxy.URL, "AWS_CONFIG_FILE": filepath.Join(home, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "credentials"), "AWS_EC2_METADATA_DISABLED": "true",
		rotation.EnvStateMachineARN: world.stateMachine, rotation.EnvParameterPrefix: rotation.DefaultParameterPrefix,
		rotation.EnvMemberAccounts: attackMember, rotation.EnvTargetExternalID: attackExternalID,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return h, arn
}

// tfEvent is what Terraform's aws_lambda_invocation sends with lifecycle_scope CRUD
// (infra/modules/managed-key): the input plus "tf": {action, prev_input}.
func tfEvent(action string, in rotation.Input, prev *rotation.Input) []byte {
	ev := map[string]any{"rotation": in, "rotationToken": strconv.FormatInt(time.Now().UnixNano(), 36)}
	var p any
	if prev != nil {
		p = map[string]any{"rotation": prev, "rotationToken": "0"}
	}
	ev["tf"] = map[string]any{"action": action, "prev_input": p}
	b, _ := json.Marshal(ev)
	return b
}

func (a *awsAccount) String() string {
	if a.id == "" {
		return "the hub"
	}
	return fmt.Sprintf("account %s", a.id)
}
