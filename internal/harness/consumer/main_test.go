package consumer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// moto is the package's one moto server, with SigV4 verification and IAM checks on, so a
// deleted key really is refused.
var moto struct {
	srv      *motoserver.Server
	kmsKeyID string
	// stateMachine stands in for keyrotor-rotate: its executions stay RUNNING, so a step driven
	// directly under one proves its authority as it would under the real machine.
	stateMachine string
}

func TestMain(m *testing.M) {
	code := testutil.RunWithMoto(m, motoserver.Options{Auth: true}, func(ctx context.Context, srv *motoserver.Server) error {
		engine, err := testutil.CreateEngineStandIns(ctx, srv.AdminConfig())
		if err != nil {
			return err
		}
		moto.srv, moto.kmsKeyID, moto.stateMachine = srv, engine.KMSKeyID, engine.StateMachineARN
		if err := prepareExample(ctx); err != nil {
			return fmt.Errorf("prepare the example: %w", err)
		}
		return nil
	})
	printResults()
	os.Exit(code)
}

// prepareExample gives Example what a deployed consumer has: a default AWS configuration from
// the environment (here moto's endpoint and admin key, standing in for the Lambda role), a
// signer user whose key keyrotor keeps in /keyrotor/s3-signer, and an object to read.
func prepareExample(ctx context.Context) error {
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": moto.srv.Endpoint, "AWS_REGION": motoserver.Region,
		"AWS_ACCESS_KEY_ID": moto.srv.Admin.AccessKeyID, "AWS_SECRET_ACCESS_KEY": moto.srv.Admin.SecretAccessKey,
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true",
	} {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	admin := moto.srv.AdminConfig()
	iamc := iam.NewFromConfig(admin)
	if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("s3-signer")}); err != nil {
		return err
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::reports/*"}]}`
	if _, err := iamc.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("s3-signer"), PolicyName: aws.String("read"), PolicyDocument: aws.String(policy)}); err != nil {
		return err
	}
	key, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("s3-signer")})
	if err != nil {
		return err
	}
	id := aws.ToString(key.AccessKey.AccessKeyId)
	value, _ := json.Marshal(map[string]string{"AccessKeyId": id, "SecretAccessKey": aws.ToString(key.AccessKey.SecretAccessKey)})
	if _, err := ssm.NewFromConfig(admin).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/keyrotor/s3-signer"), Value: aws.String(string(value)), Type: ssmtypes.ParameterTypeSecureString,
		KeyId: aws.String(moto.kmsKeyID), Description: aws.String("keyrotor:" + id),
	}); err != nil {
		return err
	}
	s3c := s3.NewFromConfig(admin)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("reports")}); err != nil {
		return err
	}
	_, err = s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("reports"), Key: aws.String("2026/q3.txt"), Body: strings.NewReader("quarterly report")})
	return err
}
