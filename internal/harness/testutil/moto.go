package testutil

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// Moto starts a moto server of the test's own, stopped when the test ends. A server that does
// not start fails the test; its error says how to install moto.
func Moto(t testing.TB, opts motoserver.Options) *motoserver.Server {
	t.Helper()
	srv, err := motoserver.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

// RunWithMoto is the body of a TestMain whose tests share one moto server: it starts the
// server, runs setup with it, then the tests, stops the server and returns the exit code. A
// server or a setup that fails ends the package with exit code 1, its error on stderr.
func RunWithMoto(m *testing.M, opts motoserver.Options, setup func(context.Context, *motoserver.Server) error) int {
	ctx := context.Background()
	srv, err := motoserver.Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Stop()
	if err := setup(ctx, srv); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// EngineStandIns are what steps driven directly against moto need of a deployed engine.
type EngineStandIns struct {
	// KMSKeyID is the engine's secrets key.
	KMSKeyID string
	// StateMachineARN stands in for keyrotor-rotate: its executions stay RUNNING (one Wait of
	// a day), so a step run under one proves its authority as it would under the real machine.
	StateMachineARN string
}

// CreateEngineStandIns creates the secrets key and the stand-in state machine through cfg.
func CreateEngineStandIns(ctx context.Context, cfg aws.Config) (EngineStandIns, error) {
	key, err := kms.NewFromConfig(cfg).CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("keyrotor test engine key")})
	if err != nil {
		return EngineStandIns{}, fmt.Errorf("create KMS key: %w", err)
	}
	sm, err := CreateStandInStateMachine(ctx, cfg)
	if err != nil {
		return EngineStandIns{}, err
	}
	return EngineStandIns{KMSKeyID: aws.ToString(key.KeyMetadata.KeyId), StateMachineARN: sm}, nil
}

// CreateStandInStateMachine creates the stand-in for keyrotor-rotate through cfg and returns
// its ARN: its executions stay RUNNING (one Wait of a day).
func CreateStandInStateMachine(ctx context.Context, cfg aws.Config) (string, error) {
	sm, err := sfn.NewFromConfig(cfg).CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name:       aws.String("keyrotor-rotate"),
		Definition: aws.String(`{"StartAt":"Wait","States":{"Wait":{"Type":"Wait","Seconds":86400,"End":true}}}`),
		RoleArn:    aws.String("arn:aws:iam::" + motoserver.AccountID + ":role/keyrotor-sfn"),
	})
	if err != nil {
		return "", fmt.Errorf("create state machine: %w", err)
	}
	return aws.ToString(sm.StateMachineArn), nil
}

// StartStandInExecution starts execution name of the stand-in state machine with input, as
// Begin requires: it acts only for a RUNNING execution whose input is its request.
func StartStandInExecution(t testing.TB, cfg aws.Config, name, input string) string {
	t.Helper()
	ctx := context.Background()
	sm, err := CreateStandInStateMachine(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	started, err := sfn.NewFromConfig(cfg).StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(sm),
		Name: aws.String(name), Input: aws.String(input)})
	if err != nil {
		t.Fatalf("start execution %s: %v", name, err)
	}
	return aws.ToString(started.ExecutionArn)
}

// ManagedTag is keyrotor's opt-in tag, keyrotor:managed=true.
var ManagedTag = iamtypes.Tag{Key: aws.String(rotation.ManagedTagKey), Value: aws.String(rotation.ManagedTagValue)}

// CreateUser creates IAM user name with tags and then keys access keys (IAM allows 0-2), as
// the administrator of cfg, and returns the keys.
func CreateUser(t testing.TB, cfg aws.Config, name string, keys int, tags ...iamtypes.Tag) []aws.Credentials {
	t.Helper()
	ctx := context.Background()
	client := iam.NewFromConfig(cfg)
	// A test's user names are its own (motoserver.CreateOnce).
	resent, err := motoserver.CreateOnce(func(opt func(*iam.Options)) error {
		_, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name), Tags: tags}, opt)
		return err
	})
	if err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	if resent != "" {
		t.Logf("create user %s: the SDK sent it again after: %s", name, resent)
	}
	var out []aws.Credentials
	for range keys {
		k, err := client.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
		if err != nil {
			t.Fatalf("create an access key of %s: %v", name, err)
		}
		out = append(out, aws.Credentials{AccessKeyID: aws.ToString(k.AccessKey.AccessKeyId), SecretAccessKey: aws.ToString(k.AccessKey.SecretAccessKey)})
	}
	return out
}
