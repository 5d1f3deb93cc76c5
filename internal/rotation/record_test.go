package rotation_test

import (
	"fmt"
	"maps"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// The findings of issue 24, one test each for those the record closes in the steps (1, 2, 5,
// 6, 8, 9). Each forged request must fail NotAuthorized (or the named refusal) and change
// nothing; each test failed on the code before the record.

// state is a user's keys and parameter, compared before and after a refused request.
type state struct {
	keys    map[string]iamtypes.StatusType
	value   string
	version int64
}

func (f *fixture) state() state {
	f.t.Helper()
	v, n := f.parameter()
	return state{keys: f.keys(), value: v, version: n}
}

func (f *fixture) assertUnchanged(before state, what string) {
	f.t.Helper()
	after := f.state()
	if !maps.Equal(before.keys, after.keys) || before.value != after.value || before.version != after.version {
		f.t.Errorf("%s changed %s: keys %v → %v, parameter version %d → %d", what, f.user, before.keys, after.keys, before.version, after.version)
	}
}

// refused runs a step that must fail NotAuthorized.
func (f *fixture) refused(action, execution string, r rotation.Rotation) {
	f.t.Helper()
	_, err := f.run(action, execution, r)
	if errorName(err) != rotation.NotAuthorized {
		f.t.Errorf("%s: %v (%s), want NotAuthorized", action, err, errorName(err))
		return
	}
	f.t.Logf("%s: %v", action, err)
}

// Finding 1: a step invoked with a running execution's id and a document naming another user
// (and the running rotation's parameter) deleted that user's live key and released the lock.
func TestFinding1_StepNamingAnotherUserUnderARunningExecutionIsRefused(t *testing.T) {
	victim := newFixture(t)
	victim.userWithKey()
	f := newFixture(t)
	f.userWithKey()
	exec := f.execution()
	r := f.mustRun("begin", exec, rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}})
	r = f.mustRun("create", exec, r)
	before := victim.state()
	for _, action := range []string{"create", "rollback", "release", "store", "deactivate", "delete"} {
		forged := r
		forged.UserName = victim.user
		f.refused(action, exec, forged)
		victim.assertUnchanged(before, action)
		if !f.lockHeld() {
			t.Fatalf("%s released the running rotation's lock", action)
		}
	}
	// The running rotation itself goes on.
	r = f.mustRun("store", exec, r)
	r = f.mustRun("verify", exec, r)
	r = f.mustRun("deactivate", exec, r)
	f.mustRun("delete", exec, r)
}

// Finding 2: restore with a running execution's id and previousParameterVersion 1 put back a
// version whose key was long deleted. Nor may a genuine document restore after verification.
func TestFinding2_RestoreToAnotherVersionIsRefused(t *testing.T) {
	f := newFixture(t)
	f.userWithKey()
	f.rotate(f.execution(), rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}})
	exec := f.execution()
	r := f.mustRun("begin", exec, rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}})
	r = f.mustRun("create", exec, r)
	r = f.mustRun("store", exec, r)
	before := f.state()
	forged := r
	forged.PreviousParameterVersion = 1
	f.refused("restore", exec, forged)
	f.assertUnchanged(before, "restore to version 1")
	r = f.mustRun("verify", exec, r)
	before = f.state()
	f.refused("restore", exec, r) // verified: the failure paths are over
	f.refused("rollback", exec, r)
	f.assertUnchanged(before, "restore after verification")
}

// Finding 5: store for a stopped execution, with the sealed blob from its lock and format raw,
// rewrote the parameter as raw; store also took the format and owner from the request.
func TestFinding5_StoreForStoppedExecutionOrWithClaimedFormatIsRefused(t *testing.T) {
	f := newFixture(t)
	f.userWithKey()
	exec := f.execution()
	r := f.mustRun("begin", exec, rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}})
	r = f.mustRun("create", exec, r)
	before := f.state()
	for name, forge := range map[string]func(*rotation.Rotation){
		"format raw":        func(r *rotation.Rotation) { r.Format = rotation.FormatRaw },
		"another owner":     func(r *rotation.Rotation) { r.UserName, r.UserID = "someone-else", "AIDASOMEONEELSE0000" },
		"another parameter": func(r *rotation.Rotation) { r.ParameterName = r.ParameterName + "-other" },
	} {
		forged := r
		forge(&forged)
		f.refused("store", exec, forged)
		f.assertUnchanged(before, "store with "+name)
	}
	f.stop(exec)
	f.refused("store", exec, r)
	f.assertUnchanged(before, "store for a stopped execution")
}

// Finding 6: deactivate and delete with a running execution's id, verifiedAt in the future and
// extensions 3 retired the old key 10 s into a 3,000 s grace. The times are the record's, and
// the engine's floors hold even for a genuine document sent early: they are measured on the
// engine's clock, between the execution history's own timestamps, whatever the function's
// clock says (a function's clock stands still under a simulated one, and runs ahead here).
func TestFinding6_WaitsAreTheRecordsAndTheFloorsHold(t *testing.T) {
	f := newFixture(t)
	f.steps.Config.MinGraceSeconds, f.steps.Config.MinInactiveSeconds = 3000, 3000
	h := newEngineHistory()
	f.steps.Executions = h
	f.userWithKey()
	exec := f.execution()
	wait := 3000
	r := rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: &wait, InactiveSeconds: &wait}}
	for _, s := range []struct{ state, action string }{{"Begin", "begin"}, {"CreateKey", "create"}, {"StoreParameter", "store"}} {
		r = h.task(f, exec, s.state, s.action, r)
	}
	// verify's answer is not back yet: its state has not ended, so no floor has begun.
	h.add(exec, sfntypes.HistoryEventTypeTaskStateEntered, rotation.VerifyState)
	r = f.mustRun("verify", exec, r)
	before := f.state()
	f.steps.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	f.refused("deactivate", exec, r)
	h.add(exec, sfntypes.HistoryEventTypeTaskStateExited, rotation.VerifyState)

	forged := r
	forged.VerifiedAt = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	forged.Extensions = rotation.MaxExtensions
	f.refused("deactivate", exec, forged)
	f.refused("delete", exec, forged)
	// Genuine, sent directly 10 s into the execution's GraceWait, with the function's clock
	// 2 hours ahead: the history shows no time passed since VerifyKey ended.
	h.add(exec, sfntypes.HistoryEventTypeWaitStateEntered, "GraceWait")
	h.advance(10 * time.Second)
	f.refused("deactivate", exec, r)
	f.refused("delete", exec, r)
	f.assertUnchanged(before, "an early deactivate or delete")

	// The engine's Wait ends 3,000 s after VerifyKey's; the function's clock has not moved.
	f.steps.Now = time.Now
	h.advance(2990 * time.Second)
	h.add(exec, sfntypes.HistoryEventTypeWaitStateExited, "GraceWait")
	r = h.task(f, exec, rotation.DeactivateState, "deactivate", r)
	f.refused("delete", exec, r) // deactivated just now: the inactive floor runs
	h.wait(exec, "InactiveWait", 3000*time.Second)
	r = h.task(f, exec, "DeleteOldKeys", "delete", r)
	if got := f.keys(); len(got) != 1 || got[r.NewAccessKeyID] != iamtypes.StatusTypeActive {
		t.Errorf("keys = %v, want only %s", got, r.NewAccessKeyID)
	}
}

// Finding 8: a user with no parameter yet could be rotated into any unused name under the
// prefix, untagged.
func TestFinding8_FirstRotationLandsOnlyInTheDefaultOrTaggedName(t *testing.T) {
	f := newFixture(t)
	f.createUser()
	f.addKey(iamtypes.StatusTypeActive)
	before := f.state()
	_, err := f.run("begin", f.execution(), rotation.Rotation{Input: rotation.Input{UserName: f.user, ParameterName: rotation.DefaultParameterPrefix + "anywhere/" + f.user}})
	if errorName(err) != rotation.ParameterMismatch || !strings.Contains(err.Error(), rotation.ParameterTagKey) {
		t.Fatalf("first rotation into an untagged name: %v, want ParameterMismatch naming %s", err, rotation.ParameterTagKey)
	}
	f.assertUnchanged(before, "the refused first rotation")
	if f.lockHeld() {
		t.Error("the refused first rotation took a lock")
	}
	// The tagged name is where the user's consumers look: allowed.
	tagged := rotation.DefaultParameterPrefix + "apps/" + f.user
	if _, err := world.iam.TagUser(f.ctx, &iam.TagUserInput{UserName: aws.String(f.user),
		Tags: []iamtypes.Tag{{Key: aws.String(rotation.ParameterTagKey), Value: aws.String(tagged)}}}); err != nil {
		t.Fatal(err)
	}
	f.param = tagged
	f.rotate(f.execution(), rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}})
	if _, v := f.parameter(); v != 1 {
		t.Errorf("tagged parameter at version %d, want 1", v)
	}
}

// stopAt runs the first n steps of a rotation, then stops the execution as StopExecution does
// (ABORTED: no Catch runs).
func (f *fixture) stopAt(n int) string {
	f.t.Helper()
	exec := f.execution()
	r := rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}}
	for _, action := range []string{"begin", "create", "store", "verify", "deactivate", "delete"}[:n] {
		r = f.mustRun(action, exec, r)
	}
	f.stop(exec)
	return exec
}

// assertOneKeyHeld checks the user has one key, active, and the parameter holds it.
func (f *fixture) assertOneKeyHeld(what string) {
	f.t.Helper()
	id, _ := f.storedSecret()
	if got := f.keys(); len(got) != 1 || got[id] != iamtypes.StatusTypeActive {
		f.t.Errorf("%s: keys %v, want only %s (the parameter's), active", what, got, id)
	}
	if f.lockHeld() {
		f.t.Errorf("%s: lock still held", what)
	}
}

// Finding 9 and "stopping is safe": a rotation stopped after any step leaves a record from
// which the next rotation finishes or undoes its work without a person, twice in a row, and
// after an operator deactivated the old key by hand.
func TestFinding9_RotationStoppedAtAnyStateIsFinishedByTheNext(t *testing.T) {
	// Where StopExecution found it, by the steps that had returned: entering a Task state
	// (its step not yet run or its answer not yet back) or waiting after one.
	stops := []struct {
		state string
		steps int
	}{{"Begin", 0}, {"CreateKey", 1}, {"StoreParameter", 2}, {"VerifyKey", 3}, {"GraceWait", 4}, {"DeactivateOldKeys", 4},
		{"InactiveWait", 5}, {"DeleteOldKeys", 5}}
	for _, stop := range stops {
		name, steps := stop.state, stop.steps
		t.Run(fmt.Sprintf("stopped in %s", name), func(t *testing.T) {
			f := newFixture(t)
			f.userWithKey()
			f.stopAt(steps)
			f.rotate(f.execution(), rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}})
			f.assertOneKeyHeld("the rotation after the stopped one")
			// Stopped twice in a row, then once more rotated.
			f.stopAt(steps)
			f.stopAt(min(steps, 2))
			f.rotate(f.execution(), rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}})
			f.assertOneKeyHeld("the rotation after two stopped ones")
			f.rotate(f.execution(), rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}})
			f.assertOneKeyHeld("the next ordinary rotation")
		})
	}
	t.Run("stopped in GraceWait, old key deactivated by hand", func(t *testing.T) {
		f := newFixture(t)
		old, _ := f.userWithKey()
		f.stopAt(4)
		if _, err := world.iam.UpdateAccessKey(f.ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(f.user),
			AccessKeyId: aws.String(old), Status: iamtypes.StatusTypeInactive}); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			f.rotate(f.execution(), rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}})
			f.assertOneKeyHeld(fmt.Sprintf("rotation %d after the operator's deactivation", i+1))
		}
	})
}

// ssmTagValue is SSM's Tag.Value pattern (botocore data/ssm/2014-11-06/service-2.json).
var ssmTagValue = regexp.MustCompile(`^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)

// Issue 20: the owner-user tag held the IAM user name, which may contain ',' that SSM refuses
// in a tag value. Every tag keyrotor writes is valid, and the owner reads back as the user.
func TestOwnershipTagsAreValidForEveryUserName(t *testing.T) {
	f := newFixture(t)
	f.param = rotation.DefaultParameterPrefix + "apps/" + f.user
	f.user += ",ops=1@x"
	f.createUser(iamtypes.Tag{Key: aws.String(rotation.ManagedTagKey), Value: aws.String(rotation.ManagedTagValue)},
		iamtypes.Tag{Key: aws.String(rotation.ParameterTagKey), Value: aws.String(f.param)})
	f.rotate(f.execution(), rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}})
	tags, err := world.ssm.ListTagsForResource(f.ctx, &ssm.ListTagsForResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String(f.param)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags.TagList {
		if !ssmTagValue.MatchString(aws.ToString(tag.Value)) {
			t.Errorf("tag %s=%q is not a valid SSM tag value", aws.ToString(tag.Key), aws.ToString(tag.Value))
		}
	}
	o, err := rotation.ReadOwner(f.ctx, world.ssm, f.param)
	if err != nil {
		t.Fatal(err)
	}
	u, err := world.iam.GetUser(f.ctx, &iam.GetUserInput{UserName: aws.String(f.user)})
	if err != nil {
		t.Fatal(err)
	}
	if o.User != f.user || o.UserID != aws.ToString(u.User.UserId) {
		t.Errorf("owner reads back as %q (%s), want %q (%s)", o.User, o.UserID, f.user, aws.ToString(u.User.UserId))
	}
}

// Begin writes a record only for what its execution was started to do: under a running
// execution's name, a begin for another user (or with other waits) takes no lock.
func TestBeginTakesARecordOnlyForItsExecutionsInput(t *testing.T) {
	victim := newFixture(t)
	victim.userWithKey()
	f := newFixture(t)
	f.userWithKey()
	exec := f.execution()
	f.mustRun("begin", exec, rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}})
	for _, forged := range []rotation.Rotation{
		{Input: rotation.Input{UserName: victim.user, GraceSeconds: zero(), InactiveSeconds: zero()}},
		{Input: rotation.Input{UserName: f.user}},
	} {
		before := victim.state()
		f.refused("begin", exec, forged)
		victim.assertUnchanged(before, "a forged begin")
		if victim.lockHeld() {
			t.Errorf("a begin for %s under %s's execution took its lock", victim.user, f.user)
		}
	}
}
