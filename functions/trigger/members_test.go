package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

// memberEvent is the managed-key module's event for a member account's user.
func memberEvent(t *testing.T, action, user, param, account string) []byte {
	t.Helper()
	rot := map[string]any{"userName": user, "parameterName": param, "graceSeconds": 0, "inactiveSeconds": 0, "format": "json", "accountId": account}
	in := map[string]any{"rotation": rot, "rotationToken": "1"}
	ev := map[string]any{"rotation": rot, "rotationToken": "1", "tf": map[string]any{"action": action, "prev_input": nil}}
	if action == "delete" {
		ev["tf"] = map[string]any{"action": action, "prev_input": in}
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Terraform's create for a member account's user returns once its new key is verified there,
// with the member's parameter ARN; destroy removes the member user's keys and parameter; an
// account that is not a member is refused before any call.
func TestTriggerManagesAKeyOfAMemberAccountsUser(t *testing.T) {
	env := engine
	ctx := context.Background()
	account := env.MemberAccountIDs()[0]
	u := localenv.ManagedUser{Keys: 1, Parameter: "-", Account: account}
	user := newUser(t, env, u)
	param := env.ParameterPrefix + user
	iv := newInvocations(t, false)

	res := applied(t, iv.invoke(t, env, memberEvent(t, "create", user, param, account)))
	if want := "arn:aws:ssm:" + localenv.Region + ":" + account + ":parameter" + param; res["parameter_arn"] != want {
		t.Errorf("parameter_arn %s, want %s", res["parameter_arn"], want)
	}
	cfg, err := env.AccountConfig(account)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(aws.ToString(out.Parameter.Value)), &v); err != nil || v.AccessKeyId != res["access_key_id"] {
		t.Fatalf("the member's parameter holds %s, the trigger returned %s", v.AccessKeyId, res["access_key_id"])
	}

	gone := applied(t, iv.invoke(t, env, memberEvent(t, "delete", user, param, account)))
	if gone["parameter_name"] != param {
		t.Errorf("destroy answered %v", gone)
	}
	keys, err := iam.NewFromConfig(cfg).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil || len(keys.AccessKeyMetadata) != 0 {
		t.Errorf("after destroy %s in %s has keys %v (%v)", user, account, keys, err)
	}
	_, err = ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param)})
	var notFound *ssmtypes.ParameterNotFound
	if !errors.As(err, &notFound) {
		t.Errorf("after destroy parameter %s in %s: %v, want ParameterNotFound", param, account, err)
	}

	env.Proxy.ResetCalls()
	refused := iv.invoke(t, env, memberEvent(t, "delete", user, param, "999999999999"))
	if refused.ErrorType != rotation.AccountNotAllowed || !strings.Contains(refused.ErrorMessage, "999999999999") {
		t.Errorf("destroy in an unlisted account answered %s: %s", refused.ErrorType, refused.ErrorMessage)
	}
	if calls := env.Proxy.Calls(); len(calls) != 0 {
		t.Errorf("%d AWS calls for an unlisted account, first %s:%s", len(calls), calls[0].Service, calls[0].Action)
	}
	for _, a := range iv.answers {
		if strings.Contains(string(a.Payload)+a.ErrorMessage+strings.Join(a.Logs, "\n"), v.SecretAccessKey) {
			t.Fatal("a trigger answer or log holds the member user's secret")
		}
	}
}
