package localenv_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/internal/fleet"
	"github.com/keyrotor/keyrotor/internal/harness/testenv"
	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal/sfnapi"
)

// fleetSummary is the fleet state machine's output.
type fleetSummary = fleet.Summary

func fleetUsers(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return names
}

// runFleet starts the fleet state machine with input and waits for it to end.
func runFleet(t testing.TB, input map[string]any) (sfnapi.Execution, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	b, _ := json.Marshal(input)
	start := time.Now()
	arn, err := env.StepFunctions.StartExecution(ctx, env.FleetStateMachineARN(), "", string(b))
	if err != nil {
		t.Fatal(err)
	}
	x, err := env.StepFunctions.Wait(ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	return x, time.Since(start)
}

func decodeSummary(t testing.TB, x sfnapi.Execution) fleetSummary {
	t.Helper()
	if x.Status != "SUCCEEDED" {
		t.Fatalf("fleet execution %s: %s %s", x.Status, x.Error, x.Cause)
	}
	var s fleetSummary
	if err := json.Unmarshal(x.Output, &s); err != nil {
		t.Fatalf("fleet output %s: %v", x.Output, err)
	}
	return s
}

// activeKeys returns the ids of the user's active keys.
func activeKeys(t testing.TB, user string) []string {
	t.Helper()
	return activeKeysIn(context.Background(), t, env, user)
}

// rotateFleetOf creates n managed users with one key each under path and rotates them with one
// fleet execution; every user must end with exactly one, new, active key.
func rotateFleetOf(t testing.TB, path string, n, concurrency int) time.Duration {
	t.Helper()
	ctx := context.Background()
	names := fleetUsers(strings.Trim(path, "/"), n)
	if err := testenv.CreateFleetUsers(ctx, env, path, names, 1); err != nil {
		t.Fatal(err)
	}
	before := map[string]string{}
	for _, u := range names {
		before[u] = activeKeys(t, u)[0]
	}
	x, took := runFleet(t, map[string]any{"pathPrefix": path, "graceSeconds": 0, "inactiveSeconds": 0, "maxConcurrency": concurrency})
	waitRotationsEnded(t, names)
	s := decodeSummary(t, x)
	if s.Managed != n || s.Counts.Rotated != n || len(s.Failed) != 0 || len(s.Skipped) != 0 {
		t.Fatalf("summary: managed %d, rotated %d, failed %+v, skipped %+v; want all %d rotated", s.Managed, s.Counts.Rotated, s.Failed, s.Skipped, n)
	}
	for _, u := range names {
		keys := activeKeys(t, u)
		if len(keys) != 1 || keys[0] == before[u] {
			t.Fatalf("%s has active keys %v after the fleet, want one new key (old %s)", u, keys, before[u])
		}
	}
	hist, err := env.StepFunctions.History(ctx, x.Arn)
	if err != nil {
		t.Fatal(err)
	}
	// The parent's history holds the listing and one Map Run, not a state per user: it stays
	// flat whatever the fleet's size (Distributed Map; the 25,000-event quota).
	t.Logf("fleet history: %d events for %d users", len(hist), n)
	if limit := 40 + 8*(n/100+1); len(hist) > limit {
		t.Errorf("fleet history has %d events for %d users, want at most %d (a few per listing page)", len(hist), n, limit)
	}
	scanFleetForSecrets(t, names, x, hist)
	return took
}

// scanFleetForSecrets reads each user's new secret from its parameter (as a consumer would) and
// fails if it appears in the fleet's output, its history or any function's log.
func scanFleetForSecrets(t testing.TB, users []string, x sfnapi.Execution, hist []sfnlocal.HistoryEvent) {
	t.Helper()
	histJSON, err := json.Marshal(hist)
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	for _, l := range env.Logs() {
		fmt.Fprintln(&logs, l.Function, l.RequestID, l.Text)
	}
	haystacks := map[string]string{"fleet output": string(x.Output), "fleet history": string(histJSON), "function logs": logs.String()}
	client := ssm.NewFromConfig(env.AdminConfig())
	for _, u := range users {
		p, err := client.GetParameter(context.Background(), &ssm.GetParameterInput{Name: aws.String(env.ParameterPrefix + u), WithDecryption: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		var key struct{ SecretAccessKey string }
		if err := json.Unmarshal([]byte(aws.ToString(p.Parameter.Value)), &key); err != nil || len(key.SecretAccessKey) < 20 {
			t.Fatalf("the parameter of %s holds no JSON access key", u)
		}
		for name, text := range haystacks {
			if strings.Contains(text, key.SecretAccessKey) {
				t.Fatalf("the secret access key of %s appears in the %s", u, name)
			}
		}
	}
}

func TestFleetRotatesEveryManagedUserUnderThePath(t *testing.T) {
	// Two listing pages (IAM's ListUsers answers 100 users a page), the second holding one
	// user; larger fleets are BenchmarkFleet's (internal/harness/bench).
	const users = 101
	took := rotateFleetOf(t, "/fleet-all/", users, 20)
	t.Logf("fleet of %d users rotated in %s", users, took.Round(time.Millisecond))
}

// mixedFleet sets up users under path: healthy ones, some with two active keys
// (TooManyActiveKeys), one whose parameter is not keyrotor's (ParameterConflict), and one
// being rotated by a running execution (RotationInProgress: skipped). It returns the names by
// expected outcome and a function that stops the running rotation.
func mixedFleet(t *testing.T, path string, healthy int) (ok, tooMany, conflict []string, busy string, stop func()) {
	t.Helper()
	ctx := context.Background()
	prefix := strings.Trim(path, "/")
	ok = fleetUsers(prefix+"-ok", healthy)
	tooMany = fleetUsers(prefix+"-twokeys", 3)
	conflict = fleetUsers(prefix+"-foreign", 1)
	busy = prefix + "-busy"
	for _, g := range []struct {
		names []string
		keys  int
	}{{ok, 1}, {tooMany, 2}, {conflict, 1}, {[]string{busy}, 1}} {
		if err := testenv.CreateFleetUsers(ctx, env, path, g.names, g.keys); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ssm.NewFromConfig(env.AdminConfig()).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(env.ParameterPrefix + conflict[0]), Value: aws.String("someone else's value"),
		Type: ssmtypes.ParameterTypeString,
	}); err != nil {
		t.Fatal(err)
	}
	// A rotation of busy that holds its lock through a long grace wait.
	b, _ := json.Marshal(map[string]any{"userName": busy, "graceSeconds": 3600, "inactiveSeconds": 0})
	arn, err := env.StepFunctions.StartExecution(ctx, env.StateMachineARN, "", string(b))
	if err != nil {
		t.Fatal(err)
	}
	stop = func() { _, _ = env.StepFunctions.StopExecution(context.Background(), arn, "", "test done") }
	t.Cleanup(stop) // also when the wait below fails the test
	testutil.WaitFor(t, time.Minute, "the busy user's rotation to reach its grace wait", func() bool {
		hist, err := env.StepFunctions.History(ctx, arn)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(hist, func(e sfnlocal.HistoryEvent) bool { return e.Type == "WaitStateEntered" })
	})
	return ok, tooMany, conflict, busy, stop
}

func TestFleetReportsFailedAndSkippedUsersWhileTheOthersRotate(t *testing.T) {
	ok, tooMany, conflict, busy, stop := mixedFleet(t, "/fleet-mixed/", 20)
	defer stop()
	x, took := runFleet(t, map[string]any{"pathPrefix": "/fleet-mixed/", "graceSeconds": 0, "inactiveSeconds": 0})
	s := decodeSummary(t, x)
	t.Logf("mixed fleet of %d users in %s: %d rotated, %d failed, %d skipped", s.Managed, took.Round(time.Millisecond), s.Counts.Rotated, s.Counts.Failed, s.Counts.Skipped)

	if s.Counts.Rotated != len(ok) || s.Managed != len(ok)+len(tooMany)+len(conflict)+1 {
		t.Errorf("rotated %d of %d managed, want exactly the %d healthy users", s.Counts.Rotated, s.Managed, len(ok))
	}
	wantFailed := map[string]string{}
	for _, u := range tooMany {
		wantFailed[u] = rotation.TooManyActiveKeys
	}
	wantFailed[conflict[0]] = rotation.ParameterConflict
	if len(s.Failed) != len(wantFailed) || s.Counts.Failed != len(wantFailed) {
		t.Errorf("failed %+v, want %v", s.Failed, wantFailed)
	}
	for _, f := range s.Failed {
		if wantFailed[f.User] != f.Error || f.Cause == "" || strings.Contains(f.Cause, "\n") || !strings.Contains(f.Execution, ":execution:"+env.Engine.FleetStateMachineName()+"/rotations:") {
			t.Errorf("failed item %+v, want error %q, a one-line cause and the user's Map Run child execution", f, wantFailed[f.User])
		}
	}
	if len(s.Skipped) != 1 || s.Skipped[0].User != busy || s.Skipped[0].Error != rotation.RotationInProgress || s.Skipped[0].Cause == "" {
		t.Errorf("skipped %+v, want %s skipped with RotationInProgress", s.Skipped, busy)
	}
	for _, u := range tooMany {
		if n := len(activeKeys(t, u)); n != 2 {
			t.Errorf("%s has %d active keys after its rotation failed, want its 2 untouched", u, n)
		}
	}
	// The full report is in the fleet bucket, where the summary says; the Map Run counts the
	// same outcomes (a skip is a child that succeeded).
	manifest := strings.TrimPrefix(s.Report, "s3://"+env.FleetBucket()+"/")
	if body, err := env.FleetObjects().GetObject(context.Background(), env.FleetBucket(), manifest); err != nil || !strings.Contains(string(body), s.MapRunArn) {
		t.Errorf("report %s: %v %s", s.Report, err, body)
	}
	mr, err := env.StepFunctions.DescribeMapRun(context.Background(), s.MapRunArn)
	if err != nil || mr.Counts.Failed != int64(len(wantFailed)) || mr.Counts.Succeeded != int64(len(ok)+1) || mr.Status != "SUCCEEDED" {
		t.Errorf("map run %+v, %v", mr, err)
	}
}

func TestFleetStopsWhenMoreFailThanTolerated(t *testing.T) {
	ok, tooMany, conflict, _, stop := mixedFleet(t, "/fleet-strict/", 5)
	defer stop()
	x, _ := runFleet(t, map[string]any{"pathPrefix": "/fleet-strict/", "graceSeconds": 0, "inactiveSeconds": 0, "toleratedFailurePercentage": 0, "maxConcurrency": 2})
	if x.Status != "FAILED" || x.Error != "States.ExceedToleratedFailureThreshold" || !strings.Contains(x.Cause, "toleratedFailurePercentage 0") {
		t.Fatalf("fleet %s %q %q, want FAILED States.ExceedToleratedFailureThreshold naming the tolerance", x.Status, x.Error, x.Cause)
	}
	// The rotations already started finished or were stopped; every user keeps a working key.
	checkUsersHold(t, append(append(ok, tooMany...), conflict...))
}

func TestFleetRefusesBadInputWithoutRotating(t *testing.T) {
	tests := []struct {
		name  string
		input map[string]any
		want  string
	}{
		{"concurrency zero", map[string]any{"maxConcurrency": 0}, "maxConcurrency 0"},
		{"percentage over 100", map[string]any{"toleratedFailurePercentage": 101}, "toleratedFailurePercentage 101"},
		{"path outside", map[string]any{"pathPrefix": "people"}, `pathPrefix "people"`},
		{"unknown field", map[string]any{"userName": "x"}, "userName"},
		// Issue 17 finding 4: a `users` list in the input must not replace the listing.
		{"users given", map[string]any{"users": []any{map[string]any{"userName": "victim"}}}, `field "users" is set by the fleet itself`},
		{"paging given", map[string]any{"marker": "x", "more": true}, `fields "marker", "more" are set by the fleet itself`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, _ := runFleet(t, tt.input)
			if x.Status != "FAILED" || x.Error != rotation.InvalidInput || !strings.Contains(x.Cause, tt.want) {
				t.Fatalf("fleet %s %q %q, want FAILED InvalidInput naming %s", x.Status, x.Error, x.Cause, tt.want)
			}
		})
	}
}

func TestFleetWithoutManagedUsersSucceedsWithAnEmptySummary(t *testing.T) {
	// One user under the path, without the opt-in tag: listed, never rotated.
	if _, err := iam.NewFromConfig(env.AdminConfig()).CreateUser(context.Background(), &iam.CreateUserInput{
		UserName: aws.String("fleet-none-person"), Path: aws.String("/fleet-none/"),
	}); err != nil {
		t.Fatal(err)
	}
	x, _ := runFleet(t, map[string]any{"pathPrefix": "/fleet-none/"})
	s := decodeSummary(t, x)
	if s.Listed != 1 || s.Managed != 0 || s.Counts != (fleet.Counts{}) || len(s.Failed) != 0 || len(s.Skipped) != 0 {
		t.Fatalf("summary %+v, want 1 user listed and none rotated", s)
	}
}

// waitRotationsEnded waits until no rotation of users runs: a fleet ends at its last child's
// cut-over, and each rotation retires its old keys after that, on its own.
func waitRotationsEnded(t testing.TB, users []string) {
	t.Helper()
	ctx := context.Background()
	mine := map[string]bool{}
	for _, u := range users {
		mine[u] = true
	}
	var running []string
	testutil.WaitFor(t, 30*time.Second, "the rotations started by the fleet to end after it", func() bool {
		runs, err := env.StepFunctions.ListExecutions(ctx, env.StateMachineARN, sfnlocal.StatusRunning)
		if err != nil {
			t.Fatal(err)
		}
		running = running[:0]
		for _, r := range runs {
			var in struct{ UserName string }
			_ = json.Unmarshal([]byte(r.Input), &in)
			if mine[in.UserName] {
				running = append(running, in.UserName)
			}
		}
		return len(running) == 0
	})
}

// checkUsersHold checks what must hold for every user of a fleet, whatever became of its
// rotation: no rotation of it still running once the stops have taken effect (a stopped
// child stops its .sync rotation, which then ends on its own), at most two active keys, and
// its parameter (if any was written) holding one of its active keys.
func checkUsersHold(t *testing.T, users []string) {
	t.Helper()
	ctx := context.Background()
	waitRotationsEnded(t, users)
	client := ssm.NewFromConfig(env.AdminConfig())
	for _, u := range users {
		keys := activeKeys(t, u)
		if len(keys) > 2 {
			t.Errorf("%s has %d active keys", u, len(keys))
		}
		p, err := client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(env.ParameterPrefix + u), WithDecryption: aws.Bool(true)})
		if err != nil {
			continue // never written: the consumer keeps its old key, which is still active
		}
		var key struct{ AccessKeyId string }
		if json.Unmarshal([]byte(aws.ToString(p.Parameter.Value)), &key) == nil && key.AccessKeyId != "" && !slices.Contains(keys, key.AccessKeyId) {
			t.Errorf("the parameter of %s holds key %s, which is not one of its active keys %v", u, key.AccessKeyId, keys)
		}
	}
}

// A fleet child holds its slot only until its user's key is verified, so stopping the fleet
// stops no rotation: those it started go on through their grace and inactive waits and end by
// themselves. A fleet started next skips the users whose rotation still runs and rotates the
// rest; every user ends with exactly one active key, a new one, held by its parameter. On a
// virtual clock with the default waits (3,600 s + 86,400 s).
func TestAStoppedFleetFollowedByANewOneRotatesEveryUser(t *testing.T) {
	t.Parallel() // its own engine: it overlaps only the other tests that have theirs
	ctx := context.Background()
	clock := sfnlocal.NewVirtualClock(time.Now())
	venv, err := localenv.Up(ctx, localenv.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer venv.Close()
	const path = "/fleet-restart/"
	names := fleetUsers("fleet-restart", 8)
	if err := testenv.CreateFleetUsers(ctx, venv, path, names, 1); err != nil {
		t.Fatal(err)
	}
	iamc := iam.NewFromConfig(venv.AdminConfig())
	keysOf := func(u string) (active, all []string) {
		out, err := iamc.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(u)})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range out.AccessKeyMetadata {
			all = append(all, aws.ToString(k.AccessKeyId))
			if k.Status == iamtypes.StatusTypeActive {
				active = append(active, aws.ToString(k.AccessKeyId))
			}
		}
		return active, all
	}
	before := map[string]string{}
	for _, u := range names {
		active, _ := keysOf(u)
		before[u] = active[0]
	}
	start := func() string {
		arn, err := venv.StepFunctions.StartExecution(ctx, venv.FleetStateMachineARN(), "", `{"pathPrefix":"`+path+`","maxConcurrency":1}`)
		if err != nil {
			t.Fatal(err)
		}
		return arn
	}
	first := start()
	// Stop it once two children have let their rotations go (verified, now retiring).
	testutil.WaitFor(t, 2*time.Minute, "two users of the first fleet to be cut over", func() bool {
		runs, err := venv.StepFunctions.ListMapRuns(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		return len(runs) == 1 && runs[0].Counts.Succeeded >= 2
	})
	if _, err := venv.StepFunctions.StopExecution(ctx, first, "Operator", "stopped by the test"); err != nil {
		t.Fatal(err)
	}
	if x, err := venv.StepFunctions.Wait(ctx, first); err != nil || x.Status != sfnlocal.StatusAborted {
		t.Fatalf("first fleet %+v, %v, want ABORTED", x, err)
	}
	second := start()
	x, err := venv.StepFunctions.Wait(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	s := decodeSummary(t, x)
	t.Logf("second fleet: %+v; retiring %d", s.Counts, s.Retiring)
	if s.Counts.Failed != 0 || s.Counts.Rotated+s.Counts.Skipped != len(names) {
		t.Errorf("second fleet %+v failed %+v, want every user rotated or skipped", s.Counts, s.Failed)
	}
	for _, sk := range s.Skipped {
		if sk.Error != rotation.RotationInProgress {
			t.Errorf("skipped %+v, want only users whose rotation of the first fleet still runs", sk)
		}
	}
	if s.Retiring != s.Counts.Rotated || !strings.Contains(s.Retirement, "keyrotor audit") {
		t.Errorf("retiring %d of %d rotated (%q): with the default waits every rotation retires after its cut-over", s.Retiring, s.Counts.Rotated, s.Retirement)
	}
	// Every rotation either fleet started ends by itself, through its 25 h of waits.
	testutil.WaitFor(t, 3*time.Minute, "every rotation to end", func() bool {
		runs, err := venv.StepFunctions.ListExecutions(ctx, venv.StateMachineARN, sfnlocal.StatusRunning)
		if err != nil {
			t.Fatal(err)
		}
		return len(runs) == 0
	})
	if slept := clock.Slept(); slept < 90000*time.Second {
		t.Errorf("the virtual clock slept %v, want at least the 3600 s + 86400 s waits", slept)
	}
	ssmc := ssm.NewFromConfig(venv.AdminConfig())
	for _, u := range names {
		active, all := keysOf(u)
		p, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(venv.ParameterPrefix + u), WithDecryption: aws.Bool(true)})
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		var key struct{ AccessKeyId string }
		_ = json.Unmarshal([]byte(aws.ToString(p.Parameter.Value)), &key)
		// The first key was never held by a keyrotor parameter, so retirement deactivates it
		// but does not delete it (only recorded keys are deleted: DESIGN.md).
		if len(active) != 1 || len(all) > 2 || active[0] == before[u] || key.AccessKeyId != active[0] {
			t.Errorf("%s: active keys %v of %v, parameter holds %s, old key %s: want one new active key, held by the parameter", u, active, all, key.AccessKeyId, before[u])
		}
	}
}
