package faultproxy

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// IAM user names are not distinguished by case (CreateUser's UserName,
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateUser.html): a request naming
// VICTIM acts on victim, and no second user VICTIM can be made. moto distinguishes them; the
// proxy plays IAM for the callers it can sign as, and only for them.
func TestUserNamesAreCaseInsensitiveAsInIAM(t *testing.T) {
	ctx := context.Background()
	p, cfg := startProxy(t)
	admin := iam.NewFromConfig(cfg)
	if _, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("case-victim")}); err != nil {
		t.Fatal(err)
	}
	key, err := admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("case-victim")})
	if err != nil {
		t.Fatal(err)
	}

	// Without the caller's credentials the proxy cannot re-sign: moto's own answer.
	if _, err := admin.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("CASE-VICTIM")}); errorCodeOf(err) != "NoSuchEntity" {
		t.Fatalf("before AddCredentials: %v, want moto's NoSuchEntity", err)
	}
	p.AddCredentials(moto.Admin)

	tests := []struct {
		name string
		call func() (string, error) // the user name IAM answered with
	}{
		{"GetUser", func() (string, error) {
			out, err := admin.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("CASE-VICTIM")})
			if err != nil {
				return "", err
			}
			return aws.ToString(out.User.UserName), nil
		}},
		{"ListAccessKeys", func() (string, error) {
			out, err := admin.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("Case-Victim")})
			if err != nil || len(out.AccessKeyMetadata) != 1 || aws.ToString(out.AccessKeyMetadata[0].AccessKeyId) != aws.ToString(key.AccessKey.AccessKeyId) {
				return "", err
			}
			return aws.ToString(out.AccessKeyMetadata[0].UserName), nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call()
			if err != nil || got != "case-victim" {
				t.Fatalf("got %q, %v; want IAM's user case-victim", got, err)
			}
		})
	}
	if _, err := admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("CASE-VICTIM")}); errorCodeOf(err) != "EntityAlreadyExists" || statusOf(err) != 409 {
		t.Fatalf("CreateUser CASE-VICTIM beside case-victim: %v, want 409 EntityAlreadyExists", err)
	}
	if _, err := admin.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("nobody-at-all")}); errorCodeOf(err) != "NoSuchEntity" {
		t.Fatalf("a user of no spelling: %v, want NoSuchEntity", err)
	}

	// A key made through the proxy is signed for as itself: authorization stays the caller's
	// (the key's user has no policy, so its request naming CASE-VICTIM is refused).
	victim := iam.NewFromConfig(noRetries(motoserver.Config(p.URL, aws.Credentials{
		AccessKeyID: aws.ToString(key.AccessKey.AccessKeyId), SecretAccessKey: aws.ToString(key.AccessKey.SecretAccessKey)})))
	if _, err := victim.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("CASE-VICTIM"), AccessKeyId: key.AccessKey.AccessKeyId}); errorCodeOf(err) != "AccessDenied" {
		t.Fatalf("an unauthorized caller naming CASE-VICTIM: %v, want AccessDenied", err)
	}
}
