package rotation_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

func TestRotationReplacesOldKeysWithOneVerifiedKey(t *testing.T) {
	tests := []struct {
		name string
		// existing keys: held by the parameter (active), other active, other inactive
		held, inactive bool
		format         string
		wantPrevious   int
	}{
		{name: "from no key and no parameter", format: "json"},
		{name: "from one key held by the parameter", held: true, format: "json", wantPrevious: 1},
		{name: "from two keys, the inactive one deleted first", held: true, inactive: true, format: "json", wantPrevious: 1},
		{name: "raw format from no key", format: "raw"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.createUser()
			var heldID, inactiveID string
			if tt.held {
				var secret string
				heldID, secret = f.addKey(iamtypes.StatusTypeActive)
				f.seedParameter(heldID, secret)
			}
			if tt.inactive {
				inactiveID, _ = f.addKey(iamtypes.StatusTypeInactive)
			}
			_, versionBefore := f.parameter()

			exec := f.execution()
			r := f.rotate(exec, rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero(), Format: tt.format}})

			if r.LockID != exec || r.ParameterName != f.param {
				t.Errorf("lockId/parameterName = %s/%s", r.LockID, r.ParameterName)
			}
			if got := f.keys(); len(got) != 1 || got[r.NewAccessKeyID] != iamtypes.StatusTypeActive {
				t.Errorf("keys after rotation = %v, want only the new key %s, active", got, r.NewAccessKeyID)
			}
			if len(r.PreviousAccessKeyIDs) != tt.wantPrevious || (tt.held && r.PreviousAccessKeyIDs[0] != heldID) {
				t.Errorf("previousAccessKeyIds = %v, want %d (held %s)", r.PreviousAccessKeyIDs, tt.wantPrevious, heldID)
			}
			if slices.Contains(r.PreviousAccessKeyIDs, inactiveID) && inactiveID != "" {
				t.Errorf("the inactive key deleted to make room is listed as previous")
			}
			if tt.held && (!slices.Equal(r.DeactivatedAccessKeyIDs, []string{heldID}) || !slices.Equal(r.DeletedAccessKeyIDs, []string{heldID})) {
				t.Errorf("deactivated %v deleted %v, want the old key %s", r.DeactivatedAccessKeyIDs, r.DeletedAccessKeyIDs, heldID)
			}
			value, version := f.parameter()
			if r.PreviousParameterVersion != versionBefore || r.ParameterVersion != version || version != versionBefore+1 {
				t.Errorf("versions previous=%d new=%d, parameter at %d (was %d)", r.PreviousParameterVersion, r.ParameterVersion, version, versionBefore)
			}
			secret := value
			if tt.format == "json" {
				var id string
				id, secret = f.storedSecret()
				if id != r.NewAccessKeyID {
					t.Errorf("parameter holds %s, want %s", id, r.NewAccessKeyID)
				}
			}
			if r.VerifiedAt == "" || r.STSCalls != 1 || r.StillInUse {
				t.Errorf("verifiedAt=%q stsCalls=%d stillInUse=%v", r.VerifiedAt, r.STSCalls, r.StillInUse)
			}
			if f.lockHeld() {
				t.Error("lock still held after delete")
			}
			f.assertSecretNowhere(secret)
			if !strings.Contains(f.logs.String(), `"accessKeyId":"`+r.NewAccessKeyID+`"`) ||
				!strings.Contains(f.logs.String(), `"execution":"`+exec+`"`) {
				t.Errorf("logs lack execution/accessKeyId fields:\n%s", f.logs.String())
			}
		})
	}
}

func TestCreateWithTwoActiveKeysFailsAndChangesNothing(t *testing.T) {
	tests := []struct {
		name   string
		seeded bool // the parameter holds the first key
	}{{"parameter holds one of them", true}, {"no parameter", false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.createUser()
			a, secret := f.addKey(iamtypes.StatusTypeActive)
			f.addKey(iamtypes.StatusTypeActive)
			if tt.seeded {
				f.seedParameter(a, secret)
			}
			keysBefore := f.keys()
			_, versionBefore := f.parameter()
			exec := f.execution()
			r := f.mustRun("begin", exec, rotation.Rotation{Input: rotation.Input{UserName: f.user}})
			_, err := f.run("create", exec, r)
			if errorName(err) != rotation.TooManyActiveKeys {
				t.Fatalf("create: %v, want TooManyActiveKeys", err)
			}
			if !strings.Contains(err.Error(), "2 active access keys") {
				t.Errorf("message %q does not say what is wrong", err)
			}
			if got := f.keys(); !mapsEqual(got, keysBefore) {
				t.Errorf("keys changed: %v → %v", keysBefore, got)
			}
			if _, v := f.parameter(); v != versionBefore {
				t.Errorf("parameter version %d → %d", versionBefore, v)
			}
			// The state machine's Catch then releases the lock.
			r.Error = &rotation.CaughtError{Error: rotation.TooManyActiveKeys, Cause: lambdaCause(err)}
			r = f.mustRun("release", exec, r)
			if f.lockHeld() || r.Failure == nil || r.Failure.Error != rotation.TooManyActiveKeys ||
				!strings.Contains(r.Failure.Cause, "2 active access keys") || !strings.Contains(r.Failure.Cause, "Released the lock") {
				t.Errorf("after release: lock held=%v failure=%+v", f.lockHeld(), r.Failure)
			}
			if got := f.keys(); !mapsEqual(got, keysBefore) {
				t.Errorf("release changed keys: %v → %v", keysBefore, got)
			}
		})
	}
}

func TestBeginRefusesWithoutChangingAnything(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(f *fixture)
		input    func(f *fixture) rotation.Rotation
		wantName string
	}{
		{"user without the managed tag", func(f *fixture) { f.createUser(iamtypes.Tag{Key: aws.String("team"), Value: aws.String("x")}) },
			nil, rotation.UserNotManaged},
		{"managed tag not true", func(f *fixture) {
			f.createUser(iamtypes.Tag{Key: aws.String(rotation.ManagedTagKey), Value: aws.String("false")})
		}, nil, rotation.UserNotManaged},
		{"user that does not exist", func(*fixture) {}, nil, rotation.UserNotFound},
		{"parameter not written by keyrotor", func(f *fixture) { f.createUser(); f.putParameter("hand-made", "") },
			nil, rotation.ParameterConflict},
		{"parameter outside the prefix", func(f *fixture) { f.createUser() },
			func(f *fixture) rotation.Rotation {
				return rotation.Rotation{Input: rotation.Input{UserName: f.user, ParameterName: "/other/x"}}
			}, rotation.InvalidInput},
		{"grace out of range and unknown format", func(f *fixture) { f.createUser() },
			func(f *fixture) rotation.Rotation {
				g := -1
				return rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: &g, Format: "yaml"}}
			}, rotation.InvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.setup(f)
			in := rotation.Rotation{Input: rotation.Input{UserName: f.user}}
			if tt.input != nil {
				in = tt.input(f)
			}
			_, versionBefore := f.parameter()
			_, err := f.run("begin", f.execution(), in)
			if errorName(err) != tt.wantName {
				t.Fatalf("begin: %v (%s), want %s", err, errorName(err), tt.wantName)
			}
			if f.lockHeld() {
				t.Error("a refused begin left a lock")
			}
			if _, v := f.parameter(); v != versionBefore {
				t.Errorf("parameter version %d → %d", versionBefore, v)
			}
		})
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// lambdaCause is the Cause Step Functions gives for a Lambda error.
func lambdaCause(err error) string {
	return testutil.LambdaCause(rotation.ErrorName(err), err.Error())
}
