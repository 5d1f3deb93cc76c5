package faultproxy

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// iamSimulateDir is where make tools installs @cloud-copilot/iam-simulate (the repository's
// scripts/npm), from this package's directory.
var iamSimulateDir = filepath.Join("..", "..", "scripts", "npm", "node_modules", "@cloud-copilot", "iam-simulate")

// A cross-account AssumeRole is decided by the role's trust policy as AWS decides it, which
// moto does not: a role whose trust names another principal, or lacks the external id it
// requires, or a session tag its sts:TagSession statement does not allow, is refused
// AccessDenied; the principal it names is let through; a new trust policy
// (UpdateAssumeRolePolicy) decides from then on.
func TestCrossAccountAssumeRoleIsDecidedByTheRolesTrustPolicy(t *testing.T) {
	p, admin := startProxy(t)
	if err := p.EnableTrustPolicies(iamSimulateDir); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const member = "111111111111"
	// The member account's administrator: moto needs a role there before anything is
	// authorized, so the three calls that make it run without authorization.
	resetAuth(t, 3)
	out, err := sts.NewFromConfig(admin).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + member + ":role/admin"), RoleSessionName: aws.String("setup")})
	if err != nil {
		t.Fatal(err)
	}
	memberAdmin := iam.NewFromConfig(noRetries(motoserver.Config(p.URL, credsOf(out.Credentials))))
	allowAll := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	byAdminUser := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + motoserver.AccountID + `:user/` + motoserver.AdminUserName + `"},"Action":"sts:AssumeRole"}]}`
	mustRole(t, memberAdmin, "admin", byAdminUser, allowAll)

	// Two roles of the hub account that call across.
	hub := iam.NewFromConfig(admin)
	session := map[string]aws.Config{}
	for _, name := range []string{"caller", "bystander"} {
		mustRole(t, hub, name, byAdminUser, allowAll)
		out, err := sts.NewFromConfig(admin).AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn: aws.String("arn:aws:iam::" + motoserver.AccountID + ":role/" + name), RoleSessionName: aws.String("s-" + name)})
		if err != nil {
			t.Fatal(err)
		}
		session[name] = noRetries(motoserver.Config(p.URL, credsOf(out.Credentials)))
	}
	trustFor := func(principal string) string {
		arn := "arn:aws:iam::" + motoserver.AccountID + ":role/" + principal
		return `{"Version":"2012-10-17","Statement":[` +
			`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + motoserver.AccountID + `:root"},"Action":"sts:AssumeRole",` +
			`"Condition":{"StringEquals":{"sts:ExternalId":"ext-1","aws:PrincipalArn":"` + arn + `"}}},` +
			`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + motoserver.AccountID + `:root"},"Action":"sts:TagSession",` +
			`"Condition":{"StringEquals":{"aws:PrincipalArn":"` + arn + `","aws:RequestTag/team":"${aws:PrincipalTag/team, 'blue'}"}}}]}`
	}
	mustRole(t, memberAdmin, "target", trustFor("caller"), allowAll)

	assume := func(who, externalID string, tags ...ststypes.Tag) error {
		in := &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + member + ":role/target"), RoleSessionName: aws.String("run-1"), Tags: tags}
		if externalID != "" {
			in.ExternalId = aws.String(externalID)
		}
		_, err := sts.NewFromConfig(session[who]).AssumeRole(ctx, in)
		return err
	}
	tag := func(v string) ststypes.Tag { return ststypes.Tag{Key: aws.String("team"), Value: aws.String(v)} }
	check := func(t *testing.T, name string, err error, allowed bool) {
		t.Helper()
		if allowed && err != nil {
			t.Errorf("%s: %v, want allowed", name, err)
		}
		if !allowed && (errorCodeOf(err) != "AccessDenied" || statusOf(err) != http.StatusForbidden) {
			t.Errorf("%s: err = %v, want 403 AccessDenied", name, err)
		}
	}
	for _, tc := range []struct {
		name, who, externalID string
		tags                  []ststypes.Tag
		allowed               bool
	}{
		{"the trusted role with the external id", "caller", "ext-1", nil, true},
		{"the trusted role without the external id", "caller", "", nil, false},
		{"the trusted role with another external id", "caller", "ext-2", nil, false},
		{"another role of the trusted account", "bystander", "ext-1", nil, false},
		{"the trusted role with the tag its TagSession allows", "caller", "ext-1", []ststypes.Tag{tag("blue")}, true},
		{"the trusted role with a tag value its TagSession refuses", "caller", "ext-1", []ststypes.Tag{tag("red")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) { check(t, tc.name, assume(tc.who, tc.externalID, tc.tags...), tc.allowed) })
	}
	// A new trust policy naming the other role decides from now on.
	if _, err := memberAdmin.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("target"), PolicyDocument: aws.String(trustFor("bystander"))}); err != nil {
		t.Fatal(err)
	}
	check(t, "the formerly trusted role after the update", assume("caller", "ext-1"), false)
	check(t, "the newly trusted role after the update", assume("bystander", "ext-1"), true)
}

func mustRole(t *testing.T, c *iam.Client, name, trust, policy string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatalf("create role %s: %v", name, err)
	}
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String("all"), PolicyDocument: aws.String(policy)}); err != nil {
		t.Fatalf("policy of role %s: %v", name, err)
	}
}

func credsOf(c *ststypes.Credentials) aws.Credentials {
	return aws.Credentials{AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey), SessionToken: aws.ToString(c.SessionToken)}
}

// resetAuth lets the next n calls to moto through without authorization.
func resetAuth(t *testing.T, n int) {
	t.Helper()
	if err := moto.ResetAuth(context.Background(), n); err != nil {
		t.Fatal(err)
	}
}
