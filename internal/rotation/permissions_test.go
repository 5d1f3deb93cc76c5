package rotation_test

import (
	"log/slog"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// functionActions is what each Lambda calls directly (the Terraform policies' action lists).
// SSM also uses KMS on the caller's behalf for SecureStrings, which moto does not check:
// storeparam needs kms:Encrypt and kms:Decrypt, verifykey kms:Decrypt, on the engine's key.
var functionActions = map[string][]string{
	"createkey": {"iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:GetUser", "iam:ListAccessKeys", "iam:ListUserTags",
		"kms:Encrypt", "ssm:DeleteParameter", "ssm:GetParameter", "ssm:GetParameterHistory",
		"ssm:ListTagsForResource", "ssm:PutParameter", "states:DescribeExecution"},
	"storeparam": {"kms:Decrypt", "ssm:AddTagsToResource", "ssm:DeleteParameter", "ssm:GetParameter", "ssm:GetParameterHistory",
		"ssm:PutParameter", "states:DescribeExecution"},
	"verifykey": {"ssm:GetParameter", "ssm:PutParameter"},
	"deleteoldkeys": {"iam:DeleteAccessKey", "iam:GetAccessKeyLastUsed", "iam:ListAccessKeys", "iam:ListUserTags", "iam:UpdateAccessKey",
		"ssm:DeleteParameter", "ssm:GetParameter", "ssm:GetParameterHistory", "ssm:PutParameter", "states:DescribeExecution"},
}

// functionOf says which Lambda serves each action (docs/steps.md).
var functionOf = map[string]string{
	"begin": "createkey", "create": "createkey", "store": "storeparam", "restore": "storeparam",
	"verify": "verifykey", "deactivate": "deleteoldkeys", "delete": "deleteoldkeys",
	"rollback": "deleteoldkeys", "release": "deleteoldkeys",
}

// TestEachFunctionNeedsExactlyItsActions runs rotations and failure paths with every step
// signed by its own function's IAM user, whose policy allows only that function's actions
// (moto enforces actions). Then each action in the lists must have been called.
func TestEachFunctionNeedsExactlyItsActions(t *testing.T) {
	f := newFixture(t)
	keyOwner := map[string]string{} // access key id → function
	steps := map[string]*rotation.Steps{}
	for fn, actions := range functionActions {
		id, secret := functionUser(t, f, fn, actions)
		keyOwner[id] = fn
		steps[fn] = rotation.NewSteps(motoserver.Config(world.proxy.URL, aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}),
			f.steps.Config, slog.New(slog.NewJSONHandler(f.logs, nil)))
	}
	run := func(action, exec string, r rotation.Rotation) rotation.Rotation {
		t.Helper()
		f.started(exec, action, r)
		out, err := steps[functionOf[action]].Actions()[action](f.ctx, rotation.Request{Action: action, ExecutionID: exec, Rotation: r})
		if err != nil {
			t.Fatalf("%s as %s: %v", action, functionOf[action], err)
		}
		return out
	}
	world.proxy.ResetCalls()

	// A full rotation from two keys (the inactive one deleted to make room), after breaking a
	// stale lock, with usage-aware deactivation.
	r := f.rotateAfterStaleLock(run)
	// A rotation rolled back after StoreParameter: restore the previous version, delete the key.
	exec := f.execution()
	r = rotation.Rotation{Input: rotation.Input{UserName: f.user}}
	for _, action := range []string{"begin", "create", "store", "restore", "rollback"} {
		r = run(action, exec, r)
	}
	// The same for a user whose parameter this rotation created: restore deletes it.
	g := newFixture(t)
	g.createUser()
	exec = g.execution()
	r = rotation.Rotation{Input: rotation.Input{UserName: g.user}}
	for _, action := range []string{"begin", "create", "store", "restore", "rollback"} {
		r = run(action, exec, r)
	}
	// A rotation released before a key exists.
	exec = f.execution()
	run("release", exec, run("begin", exec, rotation.Rotation{Input: rotation.Input{UserName: f.user}}))

	used := map[string]map[string]bool{}
	for _, c := range world.proxy.Calls() {
		fn, ok := keyOwner[c.AccessKeyID]
		if !ok {
			continue // the test's own admin calls
		}
		if used[fn] == nil {
			used[fn] = map[string]bool{}
		}
		used[fn][c.Service+":"+c.Action] = true
	}
	for fn, actions := range functionActions {
		var got []string
		for a := range used[fn] {
			got = append(got, a)
		}
		sort.Strings(got)
		if !slices.Equal(got, actions) {
			t.Errorf("%s called %s\nits policy lists %s", fn, strings.Join(got, " "), strings.Join(actions, " "))
		}
	}
}

// functionUser creates an IAM user standing in for a function's role, allowed only actions.
func functionUser(t *testing.T, f *fixture, fn string, actions []string) (string, string) {
	t.Helper()
	name := f.user + "-" + fn
	if _, err := world.iam.CreateUser(f.ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	quoted := `"` + strings.Join(actions, `","`) + `"`
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[` + quoted + `],"Resource":"*"}]}`
	if _, err := world.iam.PutUserPolicy(f.ctx, &iam.PutUserPolicyInput{
		UserName: aws.String(name), PolicyName: aws.String(fn), PolicyDocument: aws.String(policy),
	}); err != nil {
		t.Fatal(err)
	}
	key, err := world.iam.CreateAccessKey(f.ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey)
}
