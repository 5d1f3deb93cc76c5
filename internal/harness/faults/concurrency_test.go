package faults

import (
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/internal/harness/invariants"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
)

// holdAt makes the first call of service:action wait (after moto did the work, before the
// caller reads the answer) until release is closed; reached is closed when it starts waiting.
func holdAt(b *Bench, service, action string) (reached, release chan struct{}) {
	reached, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	b.Env.Proxy.AddRule(faultproxy.Rule{Service: service, Action: action, Times: 1, Fault: faultproxy.Pass,
		Report: func(faultproxy.Call) {
			once.Do(func() { close(reached) })
			select {
			case <-release:
			case <-time.After(2 * time.Minute):
			}
		}})
	return reached, release
}

func TestTwentyRotationsOfOneUserRotateOnce(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 5*time.Minute)
	tg, before := seededTarget(ctx, t, b, "race")
	withoutFaults(t, b)
	// Only the lock holder reaches CreateAccessKey; it waits there until all others ended, so
	// every other execution overlaps the holder's rotation.
	reached, release := holdAt(b, "iam", "CreateAccessKey")
	from := len(b.Env.Logs())
	arns := make([]string, 20)
	var err error
	var wg sync.WaitGroup
	for i := range arns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			arns[i], err = b.Start(ctx, "", Input(tg))
		}()
	}
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-reached:
	case <-ctx.Done():
		t.Fatal("no execution reached CreateAccessKey")
	}
	runs := map[string]Run{}
	var rejected []Run
	// The 19 others end while the holder still waits inside CreateKey.
	for len(runs) < 19 {
		for _, arn := range arns {
			if _, done := runs[arn]; done || b.Running(arn) {
				continue
			}
			r, err := b.Wait(ctx, arn, from)
			if err != nil {
				t.Fatal(err)
			}
			runs[arn] = r
			rejected = append(rejected, r)
		}
		if ctx.Err() != nil {
			t.Fatalf("only %d of 19 rejected executions ended while the holder waited", len(runs))
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	var winner Run
	for _, arn := range arns {
		if _, done := runs[arn]; !done {
			if winner, err = b.Wait(ctx, arn, from); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, r := range rejected {
		if r.Status != "FAILED" || r.Error != "RotationInProgress" {
			t.Errorf("a concurrent rotation ended %s %s: %s; want FAILED RotationInProgress", r.Status, r.Error, r.Cause)
		}
	}
	if winner.Status != "SUCCEEDED" {
		t.Fatalf("the lock holder ended %s %s: %s", winner.Status, winner.Error, winner.Cause)
	}
	res, err := b.Checker.Check(ctx, tg, before, winner.Outcome, invariants.Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Violations) > 0 || len(res.After.Keys) != 1 || len(res.After.Versions) != len(before.Versions)+1 {
		t.Errorf("after 20 concurrent rotations: keys %v, %d parameter versions (before %d)%s",
			res.After.Keys, len(res.After.Versions), len(before.Versions), describe(res.Violations))
	}
	t.Logf("1 rotated, %d refused with RotationInProgress; e.g. %q", len(rejected), rejected[0].Cause)
}

// TestStaleLockOfEndedExecutionIsBroken: a lock whose execution ended (it failed without
// releasing) does not block the next rotation.
func TestStaleLockOfEndedExecutionIsBroken(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 2*time.Minute)
	tg, err := b.NewTarget(ctx, "stale", Seed{})
	if err != nil {
		t.Fatal(err)
	}
	// A real execution that ended: a rotation of a user that does not exist.
	ended, err := b.Rotate(ctx, "", `{"userName":"nobody-`+tg.UserName+`"}`)
	if err != nil || ended.Status != "FAILED" {
		t.Fatalf("setup execution: %v %s", err, ended.Status)
	}
	lock := `{"executionId":"` + ended.ExecutionArn + `","acquiredAt":"` + time.Now().UTC().Format(time.RFC3339) + `","existingAccessKeyIds":[]}`
	if _, err := b.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(tg.ParameterName + ".lock"),
		Value: aws.String(lock), Type: ssmtypes.ParameterTypeString}); err != nil {
		t.Fatal(err)
	}
	before, err := b.Checker.Snapshot(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	run, res := rotateAndCheck(ctx, t, b, tg, before, invariants.Options{Strict: true})
	if run.Status != "SUCCEEDED" || res.After.LockExists || len(res.Violations) > 0 {
		t.Fatalf("rotation after a stale lock: %s %s: %s; lock left %v%s", run.Status, run.Error, run.Cause, res.After.LockExists, describe(res.Violations))
	}
}

// TestStaleLockOfAbortedExecutionIsBrokenAndItsKeyCleaned: an execution stopped by hand after
// CreateKey leaves its lock and the key it created (recorded in the lock). The next rotation
// must break the lock, clean up that key and rotate.
func TestStaleLockOfAbortedExecutionIsBrokenAndItsKeyCleaned(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 2*time.Minute)
	tg, before := seededTarget(ctx, t, b, "aborted")
	withoutFaults(t, b)
	reached, release := holdAt(b, "kms", "Decrypt") // StoreParameter unsealing the new secret
	arn, err := b.Start(ctx, "", Input(tg))
	if err != nil {
		t.Fatal(err)
	}
	<-reached
	if _, err := b.Env.StepFunctions.StopExecution(ctx, arn, "Operator", "stopped by hand mid-rotation"); err != nil {
		t.Fatal(err)
	}
	close(release)
	b.Env.Proxy.ClearRules()
	aborted, err := b.Wait(ctx, arn, 0)
	if err != nil || aborted.Status != "ABORTED" {
		t.Fatalf("stopped execution: %v %s", err, aborted.Status)
	}
	mid, err := b.Checker.Snapshot(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	if !mid.LockExists || len(mid.Keys) != 2 {
		t.Fatalf("the stopped execution should have left its lock and its new key: lock %v keys %v", mid.LockExists, mid.Keys)
	}
	run, res := rotateAndCheck(ctx, t, b, tg, before, invariants.Options{Strict: true})
	if run.Status != "SUCCEEDED" || len(res.Violations) > 0 || len(res.After.Keys) != 1 {
		t.Fatalf("rotation after a stopped one: %s %s: %s; keys %v%s", run.Status, run.Error, run.Cause, res.After.Keys, describe(res.Violations))
	}
}

func TestFiftyUsersRotatedAtOnceAllSucceed(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 5*time.Minute)
	b.Env.Proxy.ClearRules()
	targets := make([]invariants.Target, 50)
	befores := make([]invariants.State, 50)
	for i := range targets {
		var err error
		if targets[i], err = b.NewTarget(ctx, "fleet", Seed{}); err != nil {
			t.Fatal(err)
		}
		if befores[i], err = b.Checker.Snapshot(ctx, targets[i]); err != nil {
			t.Fatal(err)
		}
	}
	from := len(b.Env.Logs())
	arns := make([]string, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			arns[i], errs[i] = b.Start(ctx, "", Input(targets[i]))
		}()
	}
	wg.Wait()
	for i, arn := range arns {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		run, err := b.Wait(ctx, arn, from)
		if err != nil {
			t.Fatal(err)
		}
		res, err := b.Checker.Check(ctx, targets[i], befores[i], run.Outcome, invariants.Options{Strict: true})
		if err != nil {
			t.Fatal(err)
		}
		if run.Status != "SUCCEEDED" || len(res.Violations) > 0 || len(res.After.Keys) != 1 {
			t.Errorf("%s: %s %s: %s; keys %v%s", targets[i].UserName, run.Status, run.Error, run.Cause, res.After.Keys, describe(res.Violations))
		}
	}
}
