package rotation_test

import (
	"testing"

	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
)

// TestStepsSendAThrottledIAMCallUpToIAMAttemptsTimes: a step sends a throttled IAM call again
// itself, rotation.IAMAttempts times in all, before it fails Throttled and leaves the retry to
// the state machine (which would read again everything the step had read).
func TestStepsSendAThrottledIAMCallUpToIAMAttemptsTimes(t *testing.T) {
	tests := []struct {
		name          string
		fault         faultproxy.Fault
		faults        int
		wantErr       string
		wantCalls     int
		wantThrottled int
	}{
		{"throttled on all but the last attempt: Begin takes the lock", faultproxy.Throttle, rotation.IAMAttempts - 1, "", rotation.IAMAttempts, rotation.IAMAttempts - 1},
		{"a server error on all but the last attempt: Begin takes the lock", faultproxy.ServerError, rotation.IAMAttempts - 1, "", rotation.IAMAttempts, 0},
		{"throttled on every attempt: Begin fails Throttled", faultproxy.Throttle, rotation.IAMAttempts, rotation.Throttled, rotation.IAMAttempts, rotation.IAMAttempts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.createUser()
			world.proxy.ResetCalls()
			world.proxy.AddRule(faultproxy.Rule{Service: "iam", Action: "ListUserTags", Fault: tt.fault, Times: tt.faults})
			t.Cleanup(world.proxy.ClearRules)
			_, err := f.run("begin", f.execution(), rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}})
			if (err == nil) != (tt.wantErr == "") || err != nil && errorName(err) != tt.wantErr {
				t.Fatalf("begin: %v, want error %q", err, tt.wantErr)
			}
			calls, throttled := f.iamCalls("ListUserTags")
			if calls != tt.wantCalls || throttled != tt.wantThrottled {
				t.Errorf("ListUserTags sent %d times, %d throttled; want %d, %d throttled", calls, throttled, tt.wantCalls, tt.wantThrottled)
			}
			if held := f.lockHeld(); held != (tt.wantErr == "") {
				t.Errorf("lock held %v after begin (error %q)", held, tt.wantErr)
			}
		})
	}
}
