package rotation_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keyrotor/keyrotor/internal/motoserver"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

// awsCLI runs the AWS CLI against moto with creds in a minimal environment of its own (no
// config files, nothing inherited). Its output is returned, never printed.
func awsCLI(t *testing.T, creds aws.Credentials, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Fatal("the aws CLI is not on PATH; install it with: pip install awscli")
	}
	home := t.TempDir()
	cmd := exec.Command(bin, append([]string{"--endpoint-url", world.moto.Endpoint, "--output", "json"}, args...)...)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_CONFIG_FILE=" + home + "/config", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/credentials",
		"AWS_DEFAULT_REGION=" + motoserver.Region,
		"AWS_ACCESS_KEY_ID=" + creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey,
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := stderr.String()
		if creds.SecretAccessKey != "" {
			msg = strings.ReplaceAll(msg, creds.SecretAccessKey, "[redacted]")
		}
		t.Fatalf("aws %s: %v: %s", args[0]+" "+args[1], err, msg)
	}
	return stdout.Bytes()
}

func TestIndependentClientReadsParameterAndAuthenticatesWithIt(t *testing.T) {
	f := newFixture(t)
	f.createUser()
	r := f.rotate(f.execution(), rotation.Rotation{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()})

	var got struct{ Parameter struct{ Value, Type string } }
	if err := json.Unmarshal(awsCLI(t, world.moto.Admin, "ssm", "get-parameter", "--name", f.param, "--with-decryption"), &got); err != nil {
		t.Fatal("get-parameter output is not JSON")
	}
	var key struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(got.Parameter.Value), &key); err != nil || got.Parameter.Type != "SecureString" {
		t.Fatalf("parameter is %s and not the json format", got.Parameter.Type)
	}
	if key.AccessKeyId != r.NewAccessKeyID {
		t.Fatalf("parameter holds %s, want %s", key.AccessKeyId, r.NewAccessKeyID)
	}

	var identity struct{ Arn string }
	out := awsCLI(t, aws.Credentials{AccessKeyID: key.AccessKeyId, SecretAccessKey: key.SecretAccessKey}, "sts", "get-caller-identity")
	if err := json.Unmarshal(out, &identity); err != nil {
		t.Fatal("get-caller-identity output is not JSON")
	}
	if want := "arn:aws:iam::" + motoserver.AccountID + ":user/" + f.user; identity.Arn != want {
		t.Errorf("the stored key authenticates as %s, want %s", identity.Arn, want)
	}
	f.assertSecretNowhere(key.SecretAccessKey)
}
