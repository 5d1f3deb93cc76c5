package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keyrotor/keyrotor/internal/harness/invariants"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// The attacks of issue 17, one test per finding, each reproduced on the local engine with only
// the permission its principal has (StartExecution, the trigger's or a step function's
// lambda:InvokeFunction, iam:TagUser). Each must now fail closed with a named Error and a
// Cause in words, the victim's consumer still authenticating with what its parameter holds.
// Finding 8 (KMS) is a policy, evaluated by iam-simulate in internal/harness/leastprivilege
// (the broad reader whose own policy allows every decryption is confined by the key policy's
// kms:EncryptionContext:PARAMETER_ARN).

// consumerAuthenticates reads tg's parameter as its consumer does and signs
// sts:GetCallerIdentity with the key in it: the call must come back as tg's user.
func consumerAuthenticates(ctx context.Context, t *testing.T, b *Bench, tg invariants.Target) {
	t.Helper()
	out, err := b.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(tg.ParameterName), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatalf("victim's consumer cannot read %s: %v", tg.ParameterName, err)
	}
	var k struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(aws.ToString(out.Parameter.Value)), &k); err != nil || k.AccessKeyId == "" {
		t.Fatalf("victim's parameter %s is no longer the JSON its consumer parses", tg.ParameterName)
	}
	cfg := motoserver.Config(b.Env.Moto.Endpoint, aws.Credentials{AccessKeyID: k.AccessKeyId, SecretAccessKey: k.SecretAccessKey})
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("victim's consumer no longer authenticates with key %s from %s: %v", k.AccessKeyId, tg.ParameterName, err)
	}
	u, err := b.iam.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(tg.UserName)})
	if err != nil {
		t.Fatal(err)
	}
	if want := aws.ToString(u.User.Arn); aws.ToString(id.Arn) != want {
		t.Fatalf("victim's key authenticates as %s, want %s", aws.ToString(id.Arn), want)
	}
}

// victimUnchanged checks that what an attacker did left the victim's keys and parameter as
// they were before, and its consumer authenticating.
func victimUnchanged(ctx context.Context, t *testing.T, b *Bench, victim invariants.Target, before invariants.State, what string) {
	t.Helper()
	after, err := b.Checker.Snapshot(ctx, victim)
	if err != nil {
		t.Fatal(err)
	}
	if !before.Equal(after) {
		t.Errorf("%s changed the victim's keys or parameter: %s", what, before.Diff(after))
	}
	consumerAuthenticates(ctx, t, b, victim)
}

// refusedRun starts machine (the rotation's when "") with input and checks that the run failed
// closed with errName and a Cause naming says, changed nothing in the account, and left the
// victim's consumer authenticating.
func refusedRun(ctx context.Context, t *testing.T, b *Bench, machine, input, errName, says string, victim invariants.Target) {
	t.Helper()
	changesNothing(ctx, t, b, "the refused run", func() {
		run, err := b.Rotate(ctx, machine, input)
		if err != nil {
			t.Fatal(err)
		}
		failedClosed(t, run, errName, says)
	})
	consumerAuthenticates(ctx, t, b, victim)
}

// keyStillActive checks that the victim's key id, which a refused run must not touch, is still
// there and active (what says which key it is), and that the victim's consumer still works.
func keyStillActive(ctx context.Context, t *testing.T, b *Bench, victim invariants.Target, id, what string) {
	t.Helper()
	keys, err := b.iam.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(victim.UserName)})
	if err != nil {
		t.Fatal(err)
	}
	status := "deleted"
	for _, k := range keys.AccessKeyMetadata {
		if aws.ToString(k.AccessKeyId) == id {
			status = string(k.Status)
		}
	}
	if status != string(iamtypes.StatusTypeActive) {
		t.Errorf("%s, %s, was %s", what, id, status)
	}
	consumerAuthenticates(ctx, t, b, victim)
}

// failedClosed checks a run ended FAILED with errName and a Cause in words naming what.
func failedClosed(t *testing.T, run Run, errName, says string) {
	t.Helper()
	t.Logf("%s %s: %s", run.Status, run.Error, run.Cause)
	if run.Status != "FAILED" || run.Error != errName {
		t.Errorf("ended %s %s (%s); want FAILED %s", run.Status, run.Error, run.Cause, errName)
	}
	if c := strings.TrimSpace(run.Cause); c == "" || strings.HasPrefix(c, "{") || !strings.Contains(c, says) {
		t.Errorf("Cause %q is not a sentence naming %q", run.Cause, says)
	}
}

func rotationInput(fields map[string]any) string {
	b, _ := json.Marshal(fields)
	return string(b)
}

// Finding 1: StartExecution naming another parameter stored the new key there and deleted
// the key the user's own parameter holds.
func TestAttack1_OtherParameterRetiresLiveKey(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 2*time.Minute)
	withoutFaults(t, b)
	victim, _ := seededTarget(ctx, t, b, "attack1")
	drop := b.Env.ParameterPrefix + "attacker-drop-" + victim.UserName
	refusedRun(ctx, t, b, "", rotationInput(map[string]any{"userName": victim.UserName, "parameterName": drop, "graceSeconds": 0, "inactiveSeconds": 0}), "ParameterMismatch", victim.ParameterName, victim)

	// "move" alone is not enough: the user's keyrotor:parameter tag must name the target.
	refusedRun(ctx, t, b, "", rotationInput(map[string]any{"userName": victim.UserName, "parameterName": drop, "move": true, "graceSeconds": 0, "inactiveSeconds": 0}), "ParameterMismatch", "keyrotor:parameter", victim)

	// Asked for explicitly and tagged, the move happens: the new key in the new parameter, the
	// old parameter gone once the new key was verified, the old key retired.
	if _, err := b.iam.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(victim.UserName),
		Tags: []iamtypes.Tag{{Key: aws.String("keyrotor:parameter"), Value: aws.String(drop)}}}); err != nil {
		t.Fatal(err)
	}
	run, err := b.Rotate(ctx, "", rotationInput(map[string]any{"userName": victim.UserName, "parameterName": drop, "move": true, "graceSeconds": 0, "inactiveSeconds": 0}))
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != "SUCCEEDED" {
		t.Fatalf("explicit move ended %s %s: %s", run.Status, run.Error, run.Cause)
	}
	moved := victim
	moved.ParameterName = drop
	consumerAuthenticates(ctx, t, b, moved)
	if _, err := b.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(victim.ParameterName)}); err == nil {
		t.Errorf("after the move the old parameter %s still exists", victim.ParameterName)
	}
}

// Finding 4: the fleet took `users` (and its paging fields) from its input, so a run that
// listed nothing still rotated an injected user into an injected parameter; and whoever may tag
// a user could redirect the fleet with keyrotor:parameter.
func TestAttack4_FleetInputAndTagsRedirectRotations(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 3*time.Minute)
	withoutFaults(t, b)
	// The victim lives under its own path, so that the fleet lists it alone.
	path := fmt.Sprintf("/attack4-%d/", b.seq.Add(1))
	user := strings.Trim(path, "/") + "-signer"
	if _, err := b.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user), Path: aws.String(path),
		Tags: []iamtypes.Tag{{Key: aws.String("keyrotor:managed"), Value: aws.String("true")}}}); err != nil {
		t.Fatal(err)
	}
	k, err := b.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	victim := invariants.Target{UserName: user, ParameterName: b.Env.ParameterPrefix + user, Format: "json"}
	if err := b.StoreKey(ctx, victim.ParameterName, aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)); err != nil {
		t.Fatal(err)
	}
	drop := b.Env.ParameterPrefix + "attacker-drop-" + user

	t.Run("users injected into the fleet's input", func(t *testing.T) {
		refusedRun(ctx, t, b, b.Env.FleetStateMachineARN(), rotationInput(map[string]any{
			"pathPrefix": "/nobody-here/", "graceSeconds": 0, "inactiveSeconds": 0,
			"users": []any{map[string]any{"userName": user, "parameterName": drop}}, "more": false,
		}), "InvalidInput", "set by the fleet itself", victim)
	})

	t.Run("keyrotor:parameter retagged by a user tagger", func(t *testing.T) {
		if _, err := b.iam.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(user),
			Tags: []iamtypes.Tag{{Key: aws.String("keyrotor:parameter"), Value: aws.String(drop)}}}); err != nil {
			t.Fatal(err)
		}
		run, err := b.Rotate(ctx, b.Env.FleetStateMachineARN(), rotationInput(map[string]any{"pathPrefix": path, "graceSeconds": 0, "inactiveSeconds": 0}))
		if err != nil {
			t.Fatal(err)
		}
		// The fleet itself ends; the victim's rotation is refused by Begin and reported failed
		// with its named error, and nothing of the victim's changed.
		if run.Status != "SUCCEEDED" {
			t.Fatalf("fleet ended %s %s: %s", run.Status, run.Error, run.Cause)
		}
		var sum struct {
			Counts struct{ Rotated, Failed int }
			Failed []struct{ User, Error, Cause string }
		}
		if err := json.Unmarshal(run.Output, &sum); err != nil {
			t.Fatalf("fleet output %s: %v", run.Output, err)
		}
		if sum.Counts.Rotated != 0 || len(sum.Failed) != 1 || sum.Failed[0].User != user || sum.Failed[0].Error != "ParameterMismatch" ||
			!strings.Contains(sum.Failed[0].Cause, victim.ParameterName) {
			t.Fatalf("fleet summary %s: want %s's rotation failed ParameterMismatch naming %s", run.Output, user, victim.ParameterName)
		}
		if _, err := b.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(drop)}); err == nil {
			t.Errorf("the redirected fleet created %s", drop)
		}
		consumerAuthenticates(ctx, t, b, victim)
	})
}

// Finding 5: a run switching the format made consumers fail.
func TestAttack5_FormatSwitchBreaksConsumers(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 2*time.Minute)
	withoutFaults(t, b)
	victim, _ := seededTarget(ctx, t, b, "attack5")
	// Once through keyrotor (which records format json) and once as written before records.
	for _, recorded := range []bool{false, true} {
		t.Run(fmt.Sprintf("recorded=%v", recorded), func(t *testing.T) {
			if recorded {
				if run, err := b.Rotate(ctx, "", Input(victim)); err != nil || run.Status != "SUCCEEDED" {
					t.Fatalf("setup rotation: %v %s %s", err, run.Status, run.Cause)
				}
			}
			refusedRun(ctx, t, b, "", rotationInput(map[string]any{"userName": victim.UserName, "format": "raw", "graceSeconds": 0, "inactiveSeconds": 0}), "FormatMismatch", "changeFormat", victim)
		})
	}
}

// invokeTrigger invokes the trigger directly, as anyone with lambda:InvokeFunction on it can.
func invokeTrigger(ctx context.Context, t *testing.T, b *Bench, event any) (errType, errMsg string) {
	t.Helper()
	payload, _ := json.Marshal(event)
	res, err := b.Env.Lambda.Invoke(ctx, b.Env.FunctionARNs["trigger"], payload)
	if err != nil {
		t.Fatal(err)
	}
	return res.ErrorType, res.ErrorMessage
}

// Finding 2: the trigger believed its event — a delete naming a user that does not exist,
// or an update whose prev_input names another user, deleted the victim's parameter and keys.
func TestAttack2_TriggerDeletesAnotherUsersParameter(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 3*time.Minute)
	withoutFaults(t, b)
	victim, _ := seededTarget(ctx, t, b, "attack2")
	attacker, err := b.NewTarget(ctx, "attacker2", Seed{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, wantErr string
		event         any
	}{
		{"delete naming a user that does not exist", "UserNotFound", map[string]any{
			"rotation": map[string]any{"userName": "ghost-" + victim.UserName, "parameterName": victim.ParameterName},
			"tf":       map[string]any{"action": "delete"}}},
		{"delete naming another managed user", "NotAuthorized", map[string]any{
			"rotation": map[string]any{"userName": attacker.UserName, "parameterName": victim.ParameterName},
			"tf":       map[string]any{"action": "delete"}}},
		{"delete naming a missing parameter while the victim's key is in its own", "NotAuthorized", map[string]any{
			"rotation": map[string]any{"userName": victim.UserName, "parameterName": victim.ParameterName + "-missing"},
			"tf":       map[string]any{"action": "delete"}}},
		{"update whose prev_input claims the victim owned the attacker's parameter", "NotAuthorized", map[string]any{
			"rotation": map[string]any{"userName": attacker.UserName, "graceSeconds": 0, "inactiveSeconds": 0},
			"tf": map[string]any{"action": "update", "prev_input": map[string]any{
				"rotation": map[string]any{"userName": victim.UserName, "parameterName": attacker.ParameterName}}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, err := b.Checker.Snapshot(ctx, victim)
			if err != nil {
				t.Fatal(err)
			}
			errType, msg := invokeTrigger(ctx, t, b, c.event)
			t.Logf("%s: %s", errType, msg)
			if errType != c.wantErr || !strings.Contains(msg, victim.ParameterName) && !strings.Contains(msg, attacker.ParameterName) {
				t.Errorf("trigger answered %q (%s); want %s naming the parameter", errType, msg, c.wantErr)
			}
			victimUnchanged(ctx, t, b, victim, before, "the trigger")
		})
	}
}

// Finding 7: a step Lambda invoked directly with a made-up executionId deleted a live key.
func TestAttack7_DirectInvokeDeletesLiveKey(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 2*time.Minute)
	withoutFaults(t, b)
	victim, before := seededTarget(ctx, t, b, "attack7")
	live := before.Keys[0].ID
	madeUp := strings.Replace(b.Env.StateMachineARN, ":stateMachine:", ":execution:", 1) + ":made-up"
	rot := map[string]any{"userName": victim.UserName, "parameterName": victim.ParameterName, "newAccessKeyId": live,
		"previousAccessKeyIds": []string{live}, "verifiedAt": time.Now().UTC().Format(time.RFC3339), "graceSeconds": 0}
	for _, c := range []struct{ fn, action string }{
		{"deleteoldkeys", "rollback"}, {"deleteoldkeys", "release"}, {"deleteoldkeys", "deactivate"},
		{"deleteoldkeys", "delete"}, {"storeparam", "restore"},
	} {
		t.Run(c.action, func(t *testing.T) {
			payload, _ := json.Marshal(map[string]any{"action": c.action, "executionId": madeUp, "rotation": rot})
			res, err := b.Env.Lambda.Invoke(ctx, b.Env.FunctionARNs[c.fn], payload)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s", res.ErrorType, res.ErrorMessage)
			if res.ErrorType != "NotAuthorized" || !strings.Contains(res.ErrorMessage, "made-up") {
				t.Errorf("%s %s answered %q %s; want NotAuthorized naming the execution", c.fn, c.action, res.ErrorType, res.Payload)
			}
			victimUnchanged(ctx, t, b, victim, before, "the direct invocation")
		})
	}
}

// Finding 6: a stale lock handed its acquiredAt to the next rotation, which deleted at once,
// as its own stray, a key an operator made by hand after the stale execution ended.
func TestAttack6_StaleLockDeletesHandMadeKey(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 2*time.Minute)
	withoutFaults(t, b)
	victim, before := seededTarget(ctx, t, b, "attack6")
	ended, err := b.Rotate(ctx, "", `{"userName":"nobody-`+victim.UserName+`"}`)
	if err != nil || ended.Status != "FAILED" {
		t.Fatalf("setup execution: %v %s", err, ended.Status)
	}
	lock := fmt.Sprintf(`{"executionId":%q,"acquiredAt":%q,"existingAccessKeyIds":[%q]}`,
		ended.ExecutionArn, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), before.Keys[0].ID)
	put(t, b, &ssm.PutParameterInput{Name: aws.String(victim.ParameterName + ".lock"), Value: aws.String(lock), Type: ssmtypes.ParameterTypeString})
	hand, err := b.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(victim.UserName)})
	if err != nil {
		t.Fatal(err)
	}
	handID := aws.ToString(hand.AccessKey.AccessKeyId)
	run, err := b.Rotate(ctx, "", Input(victim))
	if err != nil {
		t.Fatal(err)
	}
	failedClosed(t, run, "TooManyActiveKeys", handID)
	keyStillActive(ctx, t, b, victim, handID, "the key made by hand after the stale execution ended")
}

// Finding 3: the user's keyrotor:parameter / keyrotor:format tags (written by the managed-key
// module) were ignored, so a run into the default parameter retired the key the user's real
// parameter holds.
func TestAttack3_TagsOfManagedKeyContradicted(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 2*time.Minute)
	withoutFaults(t, b)
	user := fmt.Sprintf("attack3-%d", b.seq.Add(1))
	custom := b.Env.ParameterPrefix + "apps/" + user
	if _, err := b.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user), Tags: []iamtypes.Tag{
		{Key: aws.String("keyrotor:managed"), Value: aws.String("true")},
		{Key: aws.String("keyrotor:parameter"), Value: aws.String(custom)},
		{Key: aws.String("keyrotor:format"), Value: aws.String("json")},
	}}); err != nil {
		t.Fatal(err)
	}
	k, err := b.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.StoreKey(ctx, custom, aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)); err != nil {
		t.Fatal(err)
	}
	victim := invariants.Target{UserName: user, ParameterName: custom, Format: "json"}
	for _, c := range []struct{ name, errName, says, input string }{
		{"default parameter", "ParameterMismatch", custom, rotationInput(map[string]any{"userName": user, "parameterName": b.Env.ParameterPrefix + user, "graceSeconds": 0, "inactiveSeconds": 0})},
		{"other format", "FormatMismatch", "keyrotor:format", rotationInput(map[string]any{"userName": user, "format": "raw", "graceSeconds": 0, "inactiveSeconds": 0})},
	} {
		t.Run(c.name, func(t *testing.T) {
			refusedRun(ctx, t, b, "", c.input, c.errName, c.says, victim)
		})
	}
	// Without parameterName the run follows the tag.
	if run, err := b.Rotate(ctx, "", rotationInput(map[string]any{"userName": user, "graceSeconds": 0, "inactiveSeconds": 0})); err != nil || run.Status != "SUCCEEDED" {
		t.Fatalf("rotation following the tags: %v %s %s: %s", err, run.Status, run.Error, run.Cause)
	}
	consumerAuthenticates(ctx, t, b, victim)
}

// Finding 9: removing the opt-in tag mid-rotation did not stop retirement.
func TestAttack9_UntaggedMidRotationStillRetired(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 2*time.Minute)
	withoutFaults(t, b)
	victim, before := seededTarget(ctx, t, b, "attack9")
	old := before.Keys[0].ID
	reached, release := holdAt(b, "sts", "GetCallerIdentity") // VerifyKey, after the new key is stored
	from := len(b.Env.Logs())
	arn, err := b.Start(ctx, "", Input(victim))
	if err != nil {
		t.Fatal(err)
	}
	<-reached
	if _, err := b.iam.UntagUser(ctx, &iam.UntagUserInput{UserName: aws.String(victim.UserName), TagKeys: []string{"keyrotor:managed"}}); err != nil {
		t.Fatal(err)
	}
	close(release)
	run, err := b.Wait(ctx, arn, from)
	if err != nil {
		t.Fatal(err)
	}
	failedClosed(t, run, "UserNotManaged", "keyrotor:managed")
	keyStillActive(ctx, t, b, victim, old, "the old key of a user who opted out mid-rotation")
}
