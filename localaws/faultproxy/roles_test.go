package faultproxy

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// After a role's trust changes, AssumeRole of it is refused AccessDenied for the window; after
// its permissions change, the calls of its sessions are; then they succeed, as IAM's eventual
// consistency does.
func TestRoleChangesPropagateAfterTheWindow(t *testing.T) {
	p, cfg := startProxy(t)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.SetConsistencyClock(func() time.Time { return clock })
	p.SetRoleDelay(10 * time.Second)
	ctx := context.Background()
	admin := iam.NewFromConfig(cfg)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + motoserver.AccountID + `:user/` + motoserver.AdminUserName + `"},"Action":"sts:AssumeRole"}]}`
	if _, err := admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("propagating-role"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	allowAll := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	if _, err := admin.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("propagating-role"), PolicyName: aws.String("all"), PolicyDocument: aws.String(allowAll)}); err != nil {
		t.Fatal(err)
	}
	assume := func() (*sts.AssumeRoleOutput, error) {
		return sts.NewFromConfig(cfg).AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn: aws.String("arn:aws:iam::123456789012:role/propagating-role"), RoleSessionName: aws.String("session")})
	}
	if _, err := assume(); errorCodeOf(err) != "AccessDenied" || statusOf(err) != 403 {
		t.Fatalf("AssumeRole at once: err = %v, want 403 AccessDenied", err)
	}
	clock = clock.Add(10 * time.Second)
	out, err := assume()
	if err != nil {
		t.Fatalf("AssumeRole after the window: %v", err)
	}
	session := aws.Credentials{AccessKeyID: aws.ToString(out.Credentials.AccessKeyId), SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey),
		SessionToken: aws.ToString(out.Credentials.SessionToken)}
	byRole := iam.NewFromConfig(noRetries(motoserver.Config(p.URL, session)))
	if _, err := byRole.ListRoles(ctx, &iam.ListRolesInput{}); err != nil {
		t.Fatalf("a call by the role's session: %v", err)
	}
	// A new permissions policy: the session's calls are refused until it propagates.
	if _, err := admin.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("propagating-role"), PolicyName: aws.String("all"), PolicyDocument: aws.String(allowAll)}); err != nil {
		t.Fatal(err)
	}
	if _, err := byRole.ListRoles(ctx, &iam.ListRolesInput{}); errorCodeOf(err) != "AccessDenied" {
		t.Errorf("a call by the session right after PutRolePolicy: err = %v, want AccessDenied", err)
	}
	// The trust policy did not change: AssumeRole is decided by it alone and goes on succeeding.
	if _, err := assume(); err != nil {
		t.Errorf("AssumeRole right after PutRolePolicy: %v", err)
	}
	clock = clock.Add(10 * time.Second)
	if _, err := byRole.ListRoles(ctx, &iam.ListRolesInput{}); err != nil {
		t.Errorf("a call by the session after the window: %v", err)
	}
	// A new trust policy: AssumeRole is refused until it propagates; the permissions did not
	// change, so the session already held goes on working.
	if _, err := admin.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("propagating-role"), PolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	if _, err := assume(); errorCodeOf(err) != "AccessDenied" {
		t.Errorf("AssumeRole right after UpdateAssumeRolePolicy: err = %v, want AccessDenied", err)
	}
	if _, err := byRole.ListRoles(ctx, &iam.ListRolesInput{}); err != nil {
		t.Errorf("a call by the session right after UpdateAssumeRolePolicy: %v", err)
	}
	clock = clock.Add(10 * time.Second)
	if _, err := assume(); err != nil {
		t.Errorf("AssumeRole after the trust's window: %v", err)
	}
}
