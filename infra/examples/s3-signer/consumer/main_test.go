package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/infra/examples/s3-signer/consumer/presigner"
	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/localaws/lambdahost"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// TestBootstrapPresignsWithTheParameterKey runs the built consumer as Lambda does (Runtime API,
// clean environment with its role's credentials) against moto: the URL it returns is signed
// with the signer's key from the parameter and fetches the object; the key is read once and
// reused by the warm instance; a missing parameter is a clear error; no secret is logged.
func TestBootstrapPresignsWithTheParameterKey(t *testing.T) {
	ctx := context.Background()
	// moto answers presigned URLs with a 500 when its auth is on; the presigner package's test
	// checks the signature itself.
	moto := testutil.Moto(t, motoserver.Options{})
	admin := moto.AdminConfig()
	key := testutil.CreateUser(t, admin, "s3-signer", 1)[0]
	keyID, secret := key.AccessKeyID, key.SecretAccessKey
	kmsKey, err := kms.NewFromConfig(admin).CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	value, _ := json.Marshal(map[string]string{"AccessKeyId": keyID, "SecretAccessKey": secret})
	if _, err := ssm.NewFromConfig(admin).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/keyrotor/s3-signer"), Value: aws.String(string(value)), Type: ssmtypes.ParameterTypeSecureString,
		KeyId: kmsKey.KeyMetadata.KeyId, Description: aws.String("keyrotor:" + keyID),
	}); err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(admin)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("reports")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("reports"), Key: aws.String("2026/q3.txt"), Body: strings.NewReader("quarterly")}); err != nil {
		t.Fatal(err)
	}

	bin := filepath.Join(t.TempDir(), "bootstrap")
	if out, err := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	host := lambdahost.New(lambdahost.Options{Region: motoserver.Region})
	defer host.Close()
	deploy := func(name, parameter string) {
		t.Helper()
		if _, err := host.Deploy(lambdahost.Function{Name: name, Path: bin, Timeout: 20 * time.Second, Env: map[string]string{
			"SIGNER_PARAMETER_NAME": parameter, "SIGNER_S3_ENDPOINT": moto.Endpoint, "AWS_ENDPOINT_URL": moto.Endpoint,
			// The role's credentials (moto's admin here), which read the parameter.
			"AWS_ACCESS_KEY_ID": moto.Admin.AccessKeyID, "AWS_SECRET_ACCESS_KEY": moto.Admin.SecretAccessKey,
		}}); err != nil {
			t.Fatal(err)
		}
	}
	deploy("consumer", "/keyrotor/s3-signer")
	deploy("consumer-misconfigured", "/keyrotor/nobody")

	var logs []string
	for i := range 2 {
		res, err := host.Invoke(ctx, "consumer", []byte(`{"bucket":"reports","key":"2026/q3.txt","expiresSeconds":60}`))
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, res.Logs...)
		if res.FunctionError != "" {
			t.Fatalf("invocation %d: %s: %s", i+1, res.ErrorType, res.ErrorMessage)
		}
		if strings.Contains(string(res.Payload), secret) {
			t.Fatal("the response carries the secret")
		}
		var got presigner.Response
		if err := json.Unmarshal(res.Payload, &got); err != nil {
			t.Fatalf("response %s: %v", res.Payload, err)
		}
		if got.AccessKeyID != keyID {
			t.Errorf("invocation %d signed with %s, want the parameter's key %s", i+1, got.AccessKeyID, keyID)
		}
		resp, err := http.Get(got.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "quarterly" {
			t.Errorf("GET presigned URL: %s %q, want 200 \"quarterly\"", resp.Status, body)
		}
	}
	joined := strings.Join(logs, "\n")
	if n := strings.Count(joined, "read key from keyrotor parameter"); n != 1 {
		t.Errorf("parameter read %d times in two warm invocations, want once (cached):\n%s", n, joined)
	}
	if !strings.Contains(joined, `"accessKeyId":"`+keyID+`"`) {
		t.Errorf("logs do not name the signing key:\n%s", joined)
	}

	res, err := host.Invoke(ctx, "consumer-misconfigured", []byte(`{"bucket":"reports","key":"2026/q3.txt"}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.FunctionError == "" || !strings.Contains(res.ErrorMessage, "parameter /keyrotor/nobody does not exist") {
		t.Errorf("missing parameter: %q %q, want an error naming the parameter", res.FunctionError, res.ErrorMessage)
	}
	logs = append(logs, res.Logs...)
	if strings.Contains(strings.Join(logs, "\n"), secret) {
		t.Error("the secret appears in the function's logs")
	}
}
