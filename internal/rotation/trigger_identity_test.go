package rotation

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// Identity is the account and the IAM user id (issue 24, findings 3 and 4).

// userWithParameter creates a managed user with one key and its parameter, owned by it (name
// and id, as StoreParameter records it); it returns the user's id.
func userWithParameter(ctx context.Context, t *testing.T, iamc *iam.Client, ssmc *ssm.Client, user, param string, tags ...iamtypes.Tag) string {
	t.Helper()
	u, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user), Tags: append(tags, managedTag...)})
	if err != nil {
		t.Fatal(err)
	}
	k, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(k.AccessKey.AccessKeyId)
	if _, err := ssmc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(param), Value: aws.String(`{"AccessKeyId":"` + id + `","SecretAccessKey":"y"}`),
		Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true), Description: aws.String(DescriptionPrefix + id)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ssmc.AddTagsToResource(ctx, &ssm.AddTagsToResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String(param),
		Tags: []ssmtypes.Tag{{Key: aws.String(OwnerUserTagKey), Value: aws.String(user)}, {Key: aws.String(OwnerIDTagKey), Value: u.User.UserId}}}); err != nil {
		t.Fatal(err)
	}
	return aws.ToString(u.User.UserId)
}

func keyCount(ctx context.Context, t *testing.T, iamc *iam.Client, user string) int {
	t.Helper()
	out, err := iamc.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.AccessKeyMetadata)
}

func parameterExists(ctx context.Context, ssmc *ssm.Client, name string) bool {
	_, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
	return err == nil
}

// Finding 3: moving a managed-key module from a member account's user to a hub user of the
// same name deleted the hub user's keys and parameter, and left the member's.
func TestTriggerFinding3_UpdateAwayFromAMemberAccountsUserActsInThatAccount(t *testing.T) {
	ctx := context.Background()
	hubIAM, hubSSM := startMoto(ctx, t)
	memberIAM, memberSSM := startMoto(ctx, t)
	const member = "111111111111"
	userWithParameter(ctx, t, hubIAM, hubSSM, "victim", "/keyrotor/victim")
	userWithParameter(ctx, t, hubIAM, hubSSM, "hub-user", "/keyrotor/hub-user")
	userWithParameter(ctx, t, memberIAM, memberSSM, "victim", "/keyrotor/victim")

	ex := &scriptedExecutions{statuses: []execution{{status: sfntypes.ExecutionStatusSucceeded, output: doc("AKIANEW", "2026-11-24T12:00:00Z")}}}
	tr := newTrigger(ex, &bytes.Buffer{})
	tr.IAM, tr.SSM = hubIAM, hubSSM
	tr.MemberAccounts = []string{member}
	tr.Member = func(_ context.Context, account string) (KeyRemover, ParameterRemover, error) {
		return memberIAM, memberSSM, nil
	}
	prev, _ := json.Marshal(TriggerEvent{Rotation: Input{UserName: "victim", AccountID: member}})
	if _, err := tr.Handle(ctx, TriggerEvent{Rotation: Input{UserName: "hub-user"}, TF: &TF{Action: "update", PrevInput: prev}}); err != nil {
		t.Fatal(err)
	}
	if n := keyCount(ctx, t, hubIAM, "victim"); n != 1 || !parameterExists(ctx, hubSSM, "/keyrotor/victim") {
		t.Errorf("the hub's unrelated victim has %d keys, parameter kept %v; want 1 and kept", n, parameterExists(ctx, hubSSM, "/keyrotor/victim"))
	}
	if n := keyCount(ctx, t, memberIAM, "victim"); n != 0 || parameterExists(ctx, memberSSM, "/keyrotor/victim") {
		t.Errorf("the member's victim, which the module moved away from, has %d keys, parameter kept %v; want both gone", n, parameterExists(ctx, memberSSM, "/keyrotor/victim"))
	}
}

// Finding 4: a replayed delete naming a user that was deleted and re-created (a new IAM user
// id), whose key now lives in another parameter, passed on the stale default parameter and
// deleted the key the new parameter holds.
func TestTriggerFinding4_ReplayedDeleteAfterTheUserWasRecreatedIsRefused(t *testing.T) {
	ctx := context.Background()
	iamc, ssmc := startMoto(ctx, t)
	oldID := userWithParameter(ctx, t, iamc, ssmc, "bob", "/keyrotor/bob")
	keys, err := iamc.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("bob")})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys.AccessKeyMetadata {
		if _, err := iamc.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: k.AccessKeyId}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := iamc.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("bob")}); err != nil {
		t.Fatal(err)
	}
	newID := userWithParameter(ctx, t, iamc, ssmc, "bob", "/keyrotor/bob-v2",
		iamtypes.Tag{Key: aws.String(ParameterTagKey), Value: aws.String("/keyrotor/bob-v2")})
	if newID == oldID {
		t.Fatalf("the re-created user kept id %s; the test needs IAM's new id", oldID)
	}
	tr := newTrigger(&scriptedExecutions{}, &bytes.Buffer{})
	tr.IAM, tr.SSM = iamc, ssmc
	_, err = tr.Handle(ctx, TriggerEvent{Rotation: Input{UserName: "bob"}, TF: &TF{Action: "delete"}})
	if ErrorName(err) != NotAuthorized || !strings.Contains(err.Error(), newID) {
		t.Fatalf("replayed delete: %v, want NotAuthorized naming the new user id %s", err, newID)
	}
	if n := keyCount(ctx, t, iamc, "bob"); n != 1 || !parameterExists(ctx, ssmc, "/keyrotor/bob-v2") {
		t.Errorf("the re-created bob has %d keys and /keyrotor/bob-v2 kept %v; want 1 and kept", n, parameterExists(ctx, ssmc, "/keyrotor/bob-v2"))
	}
}

// caseInsensitiveIAM resolves user names as IAM does, "not distinguished by case" (CreateUser's
// UserName, https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateUser.html), over
// moto, which matches them exactly: every name is looked up as its lower-case spelling.
type caseInsensitiveIAM struct{ *iam.Client }

func (c caseInsensitiveIAM) ListUserTags(ctx context.Context, in *iam.ListUserTagsInput, opts ...func(*iam.Options)) (*iam.ListUserTagsOutput, error) {
	in.UserName = aws.String(strings.ToLower(aws.ToString(in.UserName)))
	return c.Client.ListUserTags(ctx, in, opts...)
}

func (c caseInsensitiveIAM) ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, opts ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error) {
	in.UserName = aws.String(strings.ToLower(aws.ToString(in.UserName)))
	return c.Client.ListAccessKeys(ctx, in, opts...)
}

func (c caseInsensitiveIAM) GetUser(ctx context.Context, in *iam.GetUserInput, opts ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	in.UserName = aws.String(strings.ToLower(aws.ToString(in.UserName)))
	return c.Client.GetUser(ctx, in, opts...)
}

func (c caseInsensitiveIAM) DeleteAccessKey(ctx context.Context, in *iam.DeleteAccessKeyInput, opts ...func(*iam.Options)) (*iam.DeleteAccessKeyOutput, error) {
	in.UserName = aws.String(strings.ToLower(aws.ToString(in.UserName)))
	return c.Client.DeleteAccessKey(ctx, in, opts...)
}

// The suspicion of issue 24: a delete naming VICTIM reaches victim's keys in IAM while the
// parameter it names, /keyrotor/VICTIM, is nobody's.
func TestTriggerDeleteNamingACaseVariantOfAUserIsRefused(t *testing.T) {
	ctx := context.Background()
	iamc, ssmc := startMoto(ctx, t)
	userWithParameter(ctx, t, iamc, ssmc, "victim", "/keyrotor/victim")
	tr := newTrigger(&scriptedExecutions{}, &bytes.Buffer{})
	tr.IAM, tr.SSM = caseInsensitiveIAM{iamc}, ssmc
	_, err := tr.Handle(ctx, TriggerEvent{Rotation: Input{UserName: "VICTIM"}, TF: &TF{Action: "delete"}})
	if ErrorName(err) != NotAuthorized || !strings.Contains(err.Error(), `"victim"`) {
		t.Fatalf("delete naming VICTIM: %v, want NotAuthorized naming victim", err)
	}
	if n := keyCount(ctx, t, iamc, "victim"); n != 1 || !parameterExists(ctx, ssmc, "/keyrotor/victim") {
		t.Errorf("victim has %d keys, parameter kept %v; want 1 and kept", n, parameterExists(ctx, ssmc, "/keyrotor/victim"))
	}
}
