package motoserver

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func TestStartWithAuthVerifiesSignatures(t *testing.T) {
	ctx := context.Background()
	s, err := Start(ctx, Options{Auth: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()

	out, err := sts.NewFromConfig(s.AdminConfig()).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("admin GetCallerIdentity: %v", err)
	}
	if want := "arn:aws:iam::" + AccountID + ":user/" + AdminUserName; aws.ToString(out.Arn) != want {
		t.Errorf("admin ARN = %s, want %s", aws.ToString(out.Arn), want)
	}

	wrong := s.Admin
	wrong.SecretAccessKey = "not-the-secret"
	_, err = sts.NewFromConfig(s.Config(wrong)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	// moto answers 403 with an <Errors> wrapper the Go SDK cannot decode; internal/faultproxy
	// rewrites it into the AWS error shape, so here only the status is checked.
	var respErr *awshttp.ResponseError
	if !errors.As(err, &respErr) || respErr.HTTPStatusCode() != 403 {
		t.Errorf("wrong secret: err = %v, want HTTP 403", err)
	}
}

func TestStartWithoutMotoNamesTheInstallCommand(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Start(context.Background(), Options{})
	if err == nil || !strings.Contains(err.Error(), InstallHint) {
		t.Fatalf("err = %v, want it to name %q", err, InstallHint)
	}
}

// Tools that find moto by its process name (ps, top, CPU accounting) still find it when it
// runs through the launcher.
func TestTheServerGoesByMotoServersName(t *testing.T) {
	s, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/comm")
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if got := strings.TrimSpace(string(comm)); got != "moto_server" {
		t.Errorf("process name %q, want moto_server", got)
	}
}
