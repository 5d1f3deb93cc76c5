// Command acceptance-local runs the acceptance checks that `make aws-acceptance` runs after its
// Terraform deploy (scripts/acceptance-checks.sh) against the local engine instead: it stands
// in for the deploy — the engine, the signer user with its key in its parameter, the bucket
// and object, the example's consumer Lambda — writes the outputs Terraform would, and runs the
// same script with the AWS CLI pointed at the local endpoints. The functions' logs are
// written into the scanned directory as CloudWatch Logs would hold them.
//
//	go run ./internal/harness/acceptance/cmd/acceptance-local   (after make build and the host consumer build)
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/lambdahost"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

const (
	signer   = "acceptance-signer"
	bucket   = "keyrotor-acceptance"
	consumer = "keyrotor-s3-signer-consumer"
	// consumerBootstrap is where scripts/acceptance-local.sh builds the example's consumer.
	consumerBootstrap = "build/host/s3-signer-consumer/bootstrap"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "acceptance-local:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	root, err := deployed.FindRoot(".")
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "keyrotor-acceptance-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	// The functions' log lines, as the Lambda log groups would hold them, join the scan.
	logFile, err := os.OpenFile(filepath.Join(work, "logs-local.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	var logMu sync.Mutex
	// As an account runs it: the engine's default floors (grace 1800 s, inactive 3600 s) and
	// a rotation's default waits (3600 s, 86400 s; scripts/acceptance-checks.sh), on AWS's clock
	// simulated so that they cost seconds, not hours. The functions measure the floors on that
	// clock, in the execution's history, as they do on AWS's (internal/rotation/enginetime.go).
	env, err := localenv.Up(ctx, localenv.Options{Root: root, EngineFloors: true, Clock: sfnlocal.NewVirtualClock(time.Now()), LogSink: func(l lambdahost.LogLine) {
		b, _ := json.Marshal(l)
		logMu.Lock()
		defer logMu.Unlock()
		_, _ = logFile.Write(append(b, '\n'))
	}})
	if err != nil {
		return err
	}
	defer env.Close()

	// What the Terraform example deploys around the engine.
	param := env.ParameterPrefix + signer
	keys, err := env.CreateManagedUser(ctx, localenv.ManagedUser{Name: signer, Keys: 1, Parameter: param})
	if err != nil {
		return err
	}
	admin := env.AdminConfig()
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}`, bucket)
	if _, err := iam.NewFromConfig(admin).PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(signer), PolicyName: aws.String("read-objects"), PolicyDocument: aws.String(policy)}); err != nil {
		return fmt.Errorf("signer policy: %w", err)
	}
	object := filepath.Join(work, "object.txt")
	body := []byte("keyrotor acceptance object\n")
	if err := os.WriteFile(object, body, 0o600); err != nil {
		return err
	}
	s3c := s3.NewFromConfig(admin, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("acceptance.txt"), Body: bytes.NewReader(body)}); err != nil {
		return fmt.Errorf("put object: %w", err)
	}
	creds, err := admin.Credentials.Retrieve(ctx)
	if err != nil {
		return err
	}
	const ttl, expires = 1, 60
	arn, err := env.Lambda.Deploy(lambdahost.Function{
		Name: consumer, Path: filepath.Join(root, consumerBootstrap), Timeout: 30 * time.Second,
		Env: map[string]string{
			"SIGNER_PARAMETER_NAME": param, "SIGNER_CACHE_TTL_SECONDS": strconv.Itoa(ttl), "SIGNER_URL_MAX_SECONDS": strconv.Itoa(expires),
			"SIGNER_S3_ENDPOINT": env.AWSEndpoint, "AWS_ENDPOINT_URL": env.AWSEndpoint,
			"AWS_ACCESS_KEY_ID": creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY": creds.SecretAccessKey,
		},
		SecretEnv: []string{"AWS_SECRET_ACCESS_KEY"},
	})
	if err != nil {
		return fmt.Errorf("deploy the consumer: %w", err)
	}

	// The outputs the example's outputs.tf names, in `terraform output -json` form.
	outputs := map[string]map[string]string{
		"state_machine_arn": {"value": env.StateMachineARN}, "consumer_function_name": {"value": arn},
		"parameter_name": {"value": param}, "signer_access_key_id": {"value": keys[0]},
	}
	b, _ := json.Marshal(outputs)
	if err := os.WriteFile(filepath.Join(work, "outputs.json"), b, 0o600); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "acceptance-checks.sh"))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), env.Environ()...)
	cmd.Env = append(cmd.Env, "ACC_WORK="+work, "ACC_USER="+signer, "ACC_BUCKET="+bucket, "ACC_OBJECT_FILE="+object,
		"ACC_GRACE="+strconv.Itoa(max(ttl+1, rotation.DefaultGraceSeconds)), "ACC_INACTIVE="+strconv.Itoa(rotation.DefaultInactiveSeconds), "ACC_EXPIRES="+strconv.Itoa(expires), "ACC_LOG_GROUPS=", "ACC_FETCH_URL=0",
		"AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull, "AWS_EC2_METADATA_DISABLED=true")
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("scripts/acceptance-checks.sh failed (exit %d)", exit.ExitCode())
		}
		return err
	}
	return nil
}
