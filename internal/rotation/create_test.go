package rotation_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
)

// iamCalls counts the proxy's recorded IAM calls of action about the fixture's user, and how
// many of them were answered with an injected throttle.
func (f *fixture) iamCalls(action string) (calls, throttled int) {
	for _, c := range world.proxy.Calls() {
		if c.Service != "iam" || c.Action != action {
			continue
		}
		if name, _ := c.Params["UserName"].(string); name != f.user {
			continue
		}
		calls++
		if c.Fault == faultproxy.Throttle {
			throttled++
		}
	}
	return calls, throttled
}

// TestCreateRetriesOnlyThrottledCreateAccessKeyItself: IAM's throttling answer means the key
// was not made, so CreateKey sends CreateAccessKey again within the step and the user ends
// with one new key; an answer lost after IAM made the key is not retried within the step
// (TestCreateAfterLostCreateAccessKeyAnswerLeavesOneKey: the state machine retries the step).
func TestCreateRetriesOnlyThrottledCreateAccessKeyItself(t *testing.T) {
	tests := []struct {
		name          string
		throttles     int
		wantErr       string
		wantCalls     int
		wantNewKeys   int
		wantThrottled int
	}{
		{"throttled three times, then made", 3, "", 4, 1, 3},
		{"throttled five times, then made", 5, "", 6, 1, 5},
		{"throttled on every attempt: the step fails Throttled with no key made", 0, rotation.Throttled, 6, 0, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.createUser()
			exec := f.execution()
			r := f.mustRun("begin", exec, rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}})
			world.proxy.ResetCalls()
			world.proxy.AddRule(faultproxy.Rule{Service: "iam", Action: "CreateAccessKey", Fault: faultproxy.Throttle, Times: tt.throttles})
			t.Cleanup(world.proxy.ClearRules)
			out, err := f.run("create", exec, r)
			if (err == nil) != (tt.wantErr == "") || err != nil && errorName(err) != tt.wantErr {
				t.Fatalf("create: %v, want error %q", err, tt.wantErr)
			}
			calls, throttled := f.iamCalls("CreateAccessKey")
			if calls != tt.wantCalls || throttled != tt.wantThrottled {
				t.Errorf("CreateAccessKey sent %d times, %d throttled; want %d, %d throttled", calls, throttled, tt.wantCalls, tt.wantThrottled)
			}
			if got := f.keys(); len(got) != tt.wantNewKeys || tt.wantNewKeys == 1 && got[out.NewAccessKeyID] == "" {
				t.Errorf("keys = %v, want %d (the recorded new key %q)", got, tt.wantNewKeys, out.NewAccessKeyID)
			}
			if tt.wantErr != "" {
				return
			}
			for _, action := range []string{"store", "verify", "deactivate", "delete"} {
				out = f.mustRun(action, exec, out)
			}
			if got := f.keys(); len(got) != 1 || f.lockHeld() {
				t.Errorf("after the rotation: keys %v, lock held %v; want one key, no lock", got, f.lockHeld())
			}
		})
	}
}

// TestCreateRereadsTheUserUnlessBeginJustDid: CreateKey's first attempt right after Begin
// takes the tag, user id and keys Begin recorded (the keys only if the user had room for one);
// a later attempt reads IAM again — and so stops a rotation whose user opted out meanwhile.
func TestCreateRereadsTheUserUnlessBeginJustDid(t *testing.T) {
	tests := []struct {
		name    string
		later   time.Duration // how long after Begin CreateKey runs
		untag   bool          // the opt-in tag is removed between Begin and CreateKey
		keys    int           // keys the user has before Begin (the parameter holds the first)
		wantErr string
		wantIAM int // ListUserTags + GetUser + ListAccessKeys sent by CreateKey
	}{
		{"right after Begin: Begin's reads stand", 0, false, 1, "", 0},
		{"right after Begin, no key yet: Begin's reads stand", 0, false, 0, "", 0},
		{"past the window: read again", time.Minute, false, 1, "", 3},
		{"past the window, opted out meanwhile: UserNotManaged", time.Minute, true, 1, rotation.UserNotManaged, 1},
		{"two keys: only the keys listed again, to make room", 0, false, 2, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.createUser()
			if tt.keys > 0 {
				f.seedParameter(f.addKey(iamtypes.StatusTypeActive))
			}
			if tt.keys > 1 {
				f.addKey(iamtypes.StatusTypeInactive)
			}
			exec := f.execution()
			r := f.mustRun("begin", exec, rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}})
			before := f.keys()
			if tt.untag {
				if _, err := world.iam.UntagUser(f.ctx, &iam.UntagUserInput{UserName: aws.String(f.user), TagKeys: []string{rotation.ManagedTagKey}}); err != nil {
					t.Fatal(err)
				}
			}
			f.steps.Now = func() time.Time { return time.Now().Add(tt.later) }
			world.proxy.ResetCalls()
			_, err := f.run("create", exec, r)
			if (err == nil) != (tt.wantErr == "") || err != nil && errorName(err) != tt.wantErr {
				t.Fatalf("create: %v, want error %q", err, tt.wantErr)
			}
			var reads int
			for _, action := range []string{"ListUserTags", "GetUser", "ListAccessKeys"} {
				n, _ := f.iamCalls(action)
				reads += n
			}
			if reads != tt.wantIAM {
				t.Errorf("CreateKey sent %d IAM reads of the user, want %d", reads, tt.wantIAM)
			}
			if tt.wantErr != "" && !mapsEqual(f.keys(), before) {
				t.Errorf("a refused create changed the keys: %v → %v", before, f.keys())
			}
		})
	}
}
