package rotation_test

import (
	"encoding/json"
	"log/slog"
	"testing"

	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keyrotor/keyrotor/internal/lambdamain"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

// TestFunctionConstructorsHaveEveryClientTheirActionsUse runs rotations and failure paths with
// each action served by the Handler its own Lambda builds, which holds only the SDK clients
// that Lambda links: a client missing from a constructor panics or fails here.
func TestFunctionConstructorsHaveEveryClientTheirActionsUse(t *testing.T) {
	f := newFixture(t)
	handlers := map[string]func(rotation.Request) (*rotation.Rotation, error){}
	for _, fn := range rotation.Functions() {
		log := slog.New(slog.NewJSONHandler(f.logs, nil))
		h := lambdamain.Adapt(log, "a rotation request", fn.New(world.cfg, f.steps.Config, log).Dispatch(fn.Actions...))
		for _, a := range fn.Actions {
			if _, dup := handlers[a]; dup {
				t.Fatalf("action %s is served by two functions", a)
			}
			handlers[a] = func(req rotation.Request) (*rotation.Rotation, error) {
				event, err := json.Marshal(req)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s serves %s", fn.Name, req.Action)
				return h(f.ctx, event)
			}
		}
	}
	for action := range f.steps.Actions() {
		if handlers[action] == nil {
			t.Errorf("no function serves action %s", action)
		}
	}
	run := func(action, exec string, r rotation.Rotation) rotation.Rotation {
		t.Helper()
		f.started(exec, action, r)
		out, err := handlers[action](rotation.Request{Action: action, ExecutionID: exec, Rotation: r})
		if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		return *out
	}

	// A full rotation from two keys after breaking a stale lock (begin asks Step Functions).
	r := f.rotateAfterStaleLock(run)
	if r.NewAccessKeyID == "" || f.keys()[r.NewAccessKeyID] != iamtypes.StatusTypeActive {
		t.Fatalf("after the rotation the new key %q is not the user's active key: %v", r.NewAccessKeyID, f.keys())
	}
	// Rolled back after store: restore the previous version, delete the key.
	exec := f.execution()
	r = rotation.Rotation{Input: rotation.Input{UserName: f.user}}
	for _, action := range []string{"begin", "create", "store", "restore", "rollback"} {
		r = run(action, exec, r)
	}
	// Released before a key exists.
	exec = f.execution()
	run("release", exec, run("begin", exec, rotation.Rotation{Input: rotation.Input{UserName: f.user}}))
	if f.lockHeld() {
		t.Error("the lock is still held after release")
	}
}
