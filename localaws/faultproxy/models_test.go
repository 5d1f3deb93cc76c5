package faultproxy

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// moto stores an SSM tag value with a comma; SSM refuses it (Tag.Value pattern
// ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$ in SSM's API model and API reference). Through the proxy it is
// refused as SSM refuses it, ValidationException with AWS's message, and moto never sees it;
// an IAM user name with a space is refused as IAM refuses it, ValidationError.
func TestRequestsBreakingAWSModelsAreRefusedAsTheServiceRefusesThem(t *testing.T) {
	ctx := context.Background()
	name := "/keyrotor/model-check"
	direct := ssm.NewFromConfig(noRetries(moto.AdminConfig()))
	if _, err := direct.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name + "-moto"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString,
		Tags: []ssmtypes.Tag{{Key: aws.String("keyrotor:owner-user"), Value: aws.String("a,b")}}}); err != nil {
		t.Fatalf("moto itself should store the comma (that is what the check is for): %v", err)
	}

	p, cfg := startProxy(t)
	client := ssm.NewFromConfig(cfg)
	_, err := client.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString,
		Tags: []ssmtypes.Tag{{Key: aws.String("keyrotor:owner-user"), Value: aws.String("a,b")}}})
	want := `1 validation error detected: Value 'a,b' at 'tags.1.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`
	if errorCodeOf(err) != "ValidationException" || statusOf(err) != 400 || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v (status %d), want 400 ValidationException %q", err, statusOf(err), want)
	}
	if _, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)}); errorCodeOf(err) != "ParameterNotFound" {
		t.Errorf("the refused parameter reached moto: GetParameter err = %v", err)
	}

	_, err = iam.NewFromConfig(cfg).CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("a b")})
	if errorCodeOf(err) != "ValidationError" || statusOf(err) != 400 || !strings.Contains(err.Error(), "Value 'a b' at 'userName' failed to satisfy constraint") {
		t.Errorf("IAM user name with a space: err = %v (status %d), want 400 ValidationError", err, statusOf(err))
	}

	refusals := p.Refusals()
	if len(refusals) != 2 || refusals[0].Action != "PutParameter" || refusals[1].Action != "CreateUser" {
		t.Errorf("refusals %+v, want PutParameter and CreateUser", refusals)
	}
	if checked, refused := p.ModelCounts(); checked != 3 || refused != 2 {
		t.Errorf("counts: %d checked, %d refused; want 3 and 2", checked, refused)
	}
}
