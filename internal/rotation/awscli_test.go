package rotation_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// awsCLI runs the AWS CLI against moto with creds; its output is returned, never printed.
func awsCLI(t *testing.T, creds aws.Credentials, args ...string) []byte {
	t.Helper()
	return testutil.AWSCLI(t, []string{"AWS_DEFAULT_REGION=" + motoserver.Region}, &creds, append(args, "--endpoint-url", world.moto.Endpoint)...)
}

func TestIndependentClientReadsParameterAndAuthenticatesWithIt(t *testing.T) {
	f := newFixture(t)
	f.createUser()
	r := f.rotate(f.execution(), rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}})

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
