package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

var moto *motoserver.Server

func TestMain(m *testing.M) {
	var err error
	moto, err = motoserver.Start(context.Background(), motoserver.Options{Auth: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	moto.Stop()
	os.Exit(code)
}

// startProxy returns a proxy in front of moto and an admin config through it without SDK
// retries, so each SDK call is exactly one HTTP call.
func startProxy(t *testing.T) (*Proxy, aws.Config) {
	t.Helper()
	p, err := Start(moto.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, noRetries(motoserver.Config(p.URL, moto.Admin))
}

func noRetries(cfg aws.Config) aws.Config {
	cfg.Retryer = func() aws.Retryer { return aws.NopRetryer{} }
	return cfg
}

func errorCodeOf(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func statusOf(err error) int {
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		return respErr.HTTPStatusCode()
	}
	return 0
}

func TestRuleInjectsFaultOnSelectedCall(t *testing.T) {
	tests := []struct {
		name       string
		rule       Rule
		call       func(aws.Config, int) error
		wantCode   string
		wantStatus int
	}{
		{"throttling on a query protocol", Rule{Service: "iam", Action: "ListUsers", Fault: Throttle},
			listUsers, "Throttling", 400},
		{"throttling on a JSON protocol", Rule{Service: "ssm", Action: "DescribeParameters", Fault: Throttle},
			describeParameters, "ThrottlingException", 400},
		{"server error", Rule{Action: "ListUsers", Fault: ServerError}, listUsers, "InternalFailure", 500},
		{"access denied names the action", Rule{Service: "ssm", Fault: AccessDenied},
			describeParameters, "AccessDeniedException", 400},
		{"access denied on IAM", Rule{Service: "iam", Fault: AccessDenied}, listUsers, "AccessDenied", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, cfg := startProxy(t)
			tt.rule.Skip, tt.rule.Times = 1, 1
			p.AddRule(tt.rule)
			for i := 1; i <= 3; i++ {
				err := tt.call(cfg, i)
				if i != 2 {
					if err != nil {
						t.Fatalf("call %d (not selected): %v", i, err)
					}
					continue
				}
				if errorCodeOf(err) != tt.wantCode || statusOf(err) != tt.wantStatus {
					t.Fatalf("call 2: err = %v, want %s / HTTP %d", err, tt.wantCode, tt.wantStatus)
				}
				if tt.rule.Fault == AccessDenied && !strings.Contains(err.Error(), ":"+p.Calls()[1].Action) {
					t.Errorf("AccessDenied message %q does not name the action", err)
				}
			}
			calls := p.Calls()
			if len(calls) != 3 || calls[1].Fault != tt.rule.Fault || calls[0].Fault != "" {
				t.Errorf("recorded calls = %+v, want 3 with only the second faulted", calls)
			}
		})
	}
}

func listUsers(cfg aws.Config, _ int) error {
	_, err := iam.NewFromConfig(cfg).ListUsers(context.Background(), &iam.ListUsersInput{})
	return err
}

func describeParameters(cfg aws.Config, _ int) error {
	_, err := ssm.NewFromConfig(cfg).DescribeParameters(context.Background(), &ssm.DescribeParametersInput{})
	return err
}

func TestHangLastsUntilTheClientGivesUp(t *testing.T) {
	p, cfg := startProxy(t)
	p.AddRule(Rule{Service: "sts", Fault: Hang, Times: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the client's deadline", err)
	}
	if _, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("second call (rule spent): %v", err)
	}
}

func TestAfterBackendDoesTheWorkThenReportsFailure(t *testing.T) {
	p, cfg := startProxy(t)
	var reported []Call
	p.AddRule(Rule{Service: "iam", Action: "CreateUser", Fault: ServerError, AfterBackend: true, Times: 1,
		Report: func(c Call) { reported = append(reported, c) }})
	client := iam.NewFromConfig(cfg)
	ctx := context.Background()
	_, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("lost-response")})
	if statusOf(err) != 500 {
		t.Fatalf("CreateUser err = %v, want HTTP 500", err)
	}
	if _, err := client.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("lost-response")}); err != nil {
		t.Fatalf("user should exist although the caller saw a failure: %v", err)
	}
	if len(reported) != 1 || reported[0].Params["UserName"] != "lost-response" {
		t.Errorf("reported = %+v, want the one CreateUser call", reported)
	}
}

func TestNewKeyFailsUntilPropagated(t *testing.T) {
	p, cfg := startProxy(t)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// The window runs on the consistency clock (an engine's simulated clock), not the wall clock.
	p.SetConsistencyClock(func() time.Time { return clock })
	p.SetPropagationDelay(5 * time.Second)
	ctx := context.Background()
	client := iam.NewFromConfig(cfg)
	if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("propagating")}); err != nil {
		t.Fatal(err)
	}
	key, err := client.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("propagating")})
	if err != nil {
		t.Fatal(err)
	}
	secret := aws.ToString(key.AccessKey.SecretAccessKey)
	newKey := aws.Credentials{AccessKeyID: aws.ToString(key.AccessKey.AccessKeyId), SecretAccessKey: secret}
	userSTS := sts.NewFromConfig(noRetries(motoserver.Config(p.URL, newKey)))

	for _, tt := range []struct {
		after    time.Duration
		wantCode string
	}{{0, "InvalidClientTokenId"}, {4 * time.Second, "InvalidClientTokenId"}, {5 * time.Second, ""}} {
		clock = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(tt.after)
		out, err := userSTS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if errorCodeOf(err) != tt.wantCode {
			t.Fatalf("%v after creation: err = %v, want code %q", tt.after, err, tt.wantCode)
		}
		if err != nil && statusOf(err) != 403 {
			t.Errorf("status = %d, want 403", statusOf(err))
		}
		if err == nil && !strings.HasSuffix(aws.ToString(out.Arn), ":user/propagating") {
			t.Errorf("ARN = %s", aws.ToString(out.Arn))
		}
	}

	// A wrong secret is still refused by moto itself, in the shape the SDK decodes.
	wrong := newKey
	wrong.SecretAccessKey = "wrong"
	_, err = sts.NewFromConfig(noRetries(motoserver.Config(p.URL, wrong))).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if errorCodeOf(err) != "SignatureDoesNotMatch" {
		t.Errorf("wrong secret: err = %v, want SignatureDoesNotMatch", err)
	}

	// Calls carry the signer's key id and never the secret.
	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/faultproxy/secret"), Value: aws.String(secret), Type: ssmtypes.ParameterTypeSecureString,
	}); err != nil {
		t.Fatal(err)
	}
	var sawUserKey bool
	for _, c := range p.Calls() {
		if strings.Contains(fmt.Sprintf("%+v", c), secret) {
			t.Fatalf("recorded call %d holds the secret", c.Seq)
		}
		if c.Service == "sts" && c.AccessKeyID == newKey.AccessKeyID {
			sawUserKey = true
		}
	}
	if !sawUserKey {
		t.Errorf("no sts call recorded with the new key id; calls: %+v", p.Calls())
	}
	last := p.Calls()[len(p.Calls())-1]
	if last.Action != "PutParameter" || last.Params["Name"] != "/faultproxy/secret" || last.Params["Value"] != Redacted {
		t.Errorf("PutParameter recorded as %+v", last)
	}
}
