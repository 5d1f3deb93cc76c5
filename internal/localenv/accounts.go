package localenv

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// Member accounts (issue 15): `keyrotor local up --accounts N` adds N member accounts to moto,
// each with the keyrotor-target role the hub's functions assume and the member KMS key
// (alias/keyrotor-member), as infra/modules/member-account creates them.
//
// moto is multi-account by itself: sts:AssumeRole of a role ARN in another account id returns
// credentials that act in that account's backends ("The ARN can point to another account,
// providing an opportunity to switch accounts": moto's sts backend, assume_role). With
// authorization on, every call in the member account is checked against the policies of the
// assumed role there, so the member role's action list is enforced live. moto checks a trust
// policy only for a role of the caller's own account; the fault proxy evaluates the hub's
// cross-account AssumeRole (and its session tag) against the keyrotor-target role's trust
// policy, the member module's own (faultproxy.EnableTrustPolicies, with iam-simulate).

// MemberAdminRole is the administrator role of each local member account, named as the role
// AWS Organizations creates in the accounts it makes
// (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_access-cross-account-role.html):
// the administrator of the hub (moto's admin user) assumes it to set the member up, and the
// CLI's --account assumes it to read a member account.
const MemberAdminRole = "OrganizationAccountAccessRole"

// ExternalID is the local engine's KEYROTOR_TARGET_EXTERNAL_ID (not a secret: an external id
// tells deployments apart, it does not authenticate).
const ExternalID = "keyrotor-local-engine"

// MemberRoleActions is the keyrotor-target role's action list: what the rotation steps and the
// fleet listing call in a member account (docs/steps.md, "Member accounts"). Locally it is
// granted on every resource (moto matches resources as "*"); infra/modules/member-account
// scopes it to managed users, the parameter prefix and the member key.
var MemberRoleActions = []string{
	"iam:GetUser", "iam:ListUserTags", "iam:ListAccessKeys", "iam:CreateAccessKey", "iam:UpdateAccessKey",
	"iam:DeleteAccessKey", "iam:GetAccessKeyLastUsed", "iam:ListUsers",
	"ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter", "ssm:GetParameterHistory",
	"ssm:AddTagsToResource", "ssm:ListTagsForResource",
	"kms:Encrypt", "kms:Decrypt",
}

// Member is a local member account.
type Member struct {
	AccountID string
	// KMSKeyID and KMSKeyARN are its member key (alias/keyrotor-member).
	KMSKeyID, KMSKeyARN string
	// Admin are credentials of a session of its MemberAdminRole.
	Admin aws.Credentials
	// TargetRoleARN is its keyrotor-target role.
	TargetRoleARN string
}

// MemberAccountID is the id of the i-th (0-based) local member account: 111111111111,
// 222222222222, … (then 100000000010 + i).
func MemberAccountID(i int) string {
	if i < 9 {
		return strings.Repeat(strconv.Itoa(i+1), 12)
	}
	return fmt.Sprintf("%012d", 100000000010+i)
}

// MemberAccountIDs are the ids of the member accounts.
func (e *Env) MemberAccountIDs() []string {
	ids := make([]string, len(e.Members))
	for i, m := range e.Members {
		ids[i] = m.AccountID
	}
	return ids
}

// Member returns the member account with id, or nil.
func (e *Env) Member(id string) *Member {
	for i := range e.Members {
		if e.Members[i].AccountID == id {
			return &e.Members[i]
		}
	}
	return nil
}

// AccountConfig is an aws.Config acting in account (through the proxy) as its administrator:
// moto's admin for the hub ("" or AccountID), the member's MemberAdminRole session otherwise.
func (e *Env) AccountConfig(account string) (aws.Config, error) {
	if account == "" || account == AccountID {
		return e.AdminConfig(), nil
	}
	m := e.Member(account)
	if m == nil {
		return aws.Config{}, fmt.Errorf("local engine: %s is not one of its member accounts (%s)", account, strings.Join(e.MemberAccountIDs(), ", "))
	}
	return motoserver.Config(e.AWSEndpoint, m.Admin), nil
}

// createMembers sets up n member accounts. moto's authorization needs a role in the member
// account before anything can be done there, so the first three calls per account (assume its
// admin role, create it, give it its policy) run in a window without authorization that
// moto's /moto-api/reset-auth opens (INITIAL_NO_AUTH_ACTION_COUNT anew); nothing else runs yet.
func (e *Env) createMembers(ctx context.Context, n int) error {
	if n == 0 {
		return nil
	}
	if err := e.Moto.ResetAuth(ctx, 3*n); err != nil {
		return fmt.Errorf("local engine: %w", err)
	}
	hubSTS := sts.NewFromConfig(e.Moto.AdminConfig())
	adminTrust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:user/%s"},"Action":"sts:AssumeRole"}]}`,
		AccountID, motoserver.AdminUserName)
	allowAll := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	for i := range n {
		id := MemberAccountID(i)
		out, err := hubSTS.AssumeRole(ctx, &sts.AssumeRoleInput{
			RoleArn: aws.String("arn:aws:iam::" + id + ":role/" + MemberAdminRole), RoleSessionName: aws.String("keyrotor-local"),
			DurationSeconds: aws.Int32(43200),
		})
		if err != nil {
			return fmt.Errorf("local engine: member %s: assume its admin role: %w", id, err)
		}
		c := out.Credentials
		m := Member{AccountID: id, TargetRoleARN: rotation.TargetRoleARN("aws", id), Admin: aws.Credentials{
			AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey), SessionToken: aws.ToString(c.SessionToken),
		}}
		client := iam.NewFromConfig(motoserver.Config(e.Moto.Endpoint, m.Admin))
		if _, err := client.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(MemberAdminRole), AssumeRolePolicyDocument: aws.String(adminTrust)}); err != nil {
			return fmt.Errorf("local engine: member %s: create %s: %w", id, MemberAdminRole, err)
		}
		if _, err := client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(MemberAdminRole), PolicyName: aws.String("admin"), PolicyDocument: aws.String(allowAll)}); err != nil {
			return fmt.Errorf("local engine: member %s: policy of %s: %w", id, MemberAdminRole, err)
		}
		e.Members = append(e.Members, m)
	}
	for i := range e.Members {
		if err := e.setUpMember(ctx, &e.Members[i]); err != nil {
			return err
		}
	}
	return nil
}

// TargetTrustPolicy is the keyrotor-target role's trust policy as infra/modules/member-account
// renders it for this engine: the hub's function roles, each with the engine's external id
// (sts:ExternalId) and its own keyrotor:function session tag.
func (e *Env) TargetTrustPolicy() (string, error) {
	m := deployed.Member{Root: e.Engine.Root, Account: deployed.Account{Partition: e.Engine.Partition}, HubAccountID: e.Engine.AccountID, EngineName: e.Engine.Name, ExternalID: ExternalID}
	doc, err := m.TrustPolicy()
	if err != nil {
		return "", fmt.Errorf("local engine: the member role's trust policy: %w", err)
	}
	b, err := json.Marshal(doc)
	return string(b), err
}

// TargetRolePolicy is the keyrotor-target role's policy locally: MemberRoleActions on "*".
func TargetRolePolicy(actions []string) string {
	statement := map[string]any{"Sid": "KeyrotorTarget", "Effect": "Allow", "Action": actions, "Resource": "*"}
	if len(actions) == 0 {
		statement = map[string]any{"Effect": "Deny", "Action": "*", "Resource": "*"}
	}
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{statement}})
	return string(b)
}

func (e *Env) setUpMember(ctx context.Context, m *Member) error {
	cfg := motoserver.Config(e.Moto.Endpoint, m.Admin)
	trust, err := e.TargetTrustPolicy()
	if err != nil {
		return err
	}
	// Through the proxy, which learns the trust policy it evaluates the hub's AssumeRole with.
	e.Proxy.SetPrincipal(m.Admin.AccessKeyID, "arn:aws:iam::"+m.AccountID+":role/"+MemberAdminRole)
	if _, err := iam.NewFromConfig(motoserver.Config(e.AWSEndpoint, m.Admin)).CreateRole(ctx, &iam.CreateRoleInput{
		RoleName: aws.String(rotation.TargetRoleName), Path: aws.String(rotation.TargetRolePath),
		AssumeRolePolicyDocument: aws.String(trust), Description: aws.String("keyrotor: the hub's functions act here"),
	}); err != nil {
		return fmt.Errorf("local engine: member %s: create %s: %w", m.AccountID, rotation.TargetRoleName, err)
	}
	if err := e.setMemberRoleActions(ctx, m.AccountID, MemberRoleActions); err != nil {
		return err
	}
	k := kms.NewFromConfig(cfg)
	out, err := k.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("keyrotor member key: seals new secrets and encrypts the parameters")})
	if err != nil {
		return fmt.Errorf("local engine: member %s: create its KMS key: %w", m.AccountID, err)
	}
	m.KMSKeyID, m.KMSKeyARN = aws.ToString(out.KeyMetadata.KeyId), aws.ToString(out.KeyMetadata.Arn)
	if _, err := k.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(rotation.MemberKMSKeyAlias), TargetKeyId: out.KeyMetadata.KeyId}); err != nil {
		return fmt.Errorf("local engine: member %s: alias its KMS key: %w", m.AccountID, err)
	}
	// moto loads SSM's public parameters on an account's first SSM call: here, not in Begin.
	if _, err := ssm.NewFromConfig(cfg).DescribeParameters(ctx, &ssm.DescribeParametersInput{MaxResults: aws.Int32(1)}); err != nil {
		return fmt.Errorf("local engine: member %s: warm up SSM: %w", m.AccountID, err)
	}
	return nil
}

// setMemberRoleActions replaces the keyrotor-target role's policy in account with one granting
// exactly actions (none: a policy that denies everything).
func (e *Env) setMemberRoleActions(ctx context.Context, account string, actions []string) error {
	cfg, err := e.AccountConfig(account)
	if err != nil {
		return err
	}
	if _, err := iam.NewFromConfig(cfg).PutRolePolicy(ctx, &iam.PutRolePolicyInput{
		RoleName: aws.String(rotation.TargetRoleName), PolicyName: aws.String(rotation.TargetRoleName),
		PolicyDocument: aws.String(TargetRolePolicy(actions)),
	}); err != nil {
		return fmt.Errorf("local engine: member %s: policy of %s: %w", account, rotation.TargetRoleName, err)
	}
	return nil
}
