package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// readAction reports whether an AWS action only reads: Get*, List*, Describe*, and the STS
// calls that change nothing (who am I; a role session).
func readAction(action string) bool {
	for _, p := range []string{"Get", "List", "Describe"} {
		if strings.HasPrefix(action, p) {
			return true
		}
	}
	return action == "AssumeRole"
}

// writesBy are the recorded calls after seq signed by key that are not reads.
func writesBy(calls []faultproxy.Call, seq int, key string) (reads int, writes []string) {
	for _, c := range calls {
		if c.Seq <= seq || c.AccessKeyID != key {
			continue
		}
		if readAction(c.Action) {
			reads++
		} else {
			writes = append(writes, c.Service+":"+c.Action)
		}
	}
	return reads, writes
}

func lastSeq(p *faultproxy.Proxy) int {
	calls := p.Calls()
	if len(calls) == 0 {
		return 0
	}
	return calls[len(calls)-1].Seq
}

// useEnv points the in-process CLI at e (as useLocal does for the package's engine), with the
// engine's floors, which the dry run reads from the same variables as the functions.
func useEnv(t *testing.T, e *localenv.Env) {
	t.Helper()
	useEngine(t, e)
	fenv := e.FunctionEnv("createkey")
	for _, k := range []string{rotation.EnvMinGraceSeconds, rotation.EnvMinInactiveSeconds, rotation.EnvParameterPrefix} {
		t.Setenv(k, fenv[k])
	}
}

func TestDryRunOfOneUserSaysWhatARotationWouldDoAndWritesNothing(t *testing.T) {
	useLocal(t)
	ctx := context.Background()
	for _, kv := range []string{rotation.EnvMinGraceSeconds, rotation.EnvMinInactiveSeconds} {
		t.Setenv(kv, env.FunctionEnv("createkey")[kv])
	}
	ok, err := env.CreateManagedUser(ctx, localenv.ManagedUser{Name: "dry-one", Keys: 1, Parameter: "/keyrotor/dry-one"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.CreateManagedUser(ctx, localenv.ManagedUser{Name: "dry-two-active", Keys: 2, Parameter: "/keyrotor/dry-two-active"}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.CreateManagedUser(ctx, localenv.ManagedUser{Name: "dry-unmanaged", Keys: 1, Unmanaged: true}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user string
		wantCode   int
		want       []string
	}{
		{"a healthy user", "dry-one", exitOK, []string{"✔ dry-one  → /keyrotor/dry-one (json)", "deactivate " + ok[0] + " (Active) after 0s, then delete it", "never used", "1 users: 1 would rotate, 0 would be refused"}},
		{"two active keys", "dry-two-active", exitFailed, []string{"✘ dry-two-active  refused: TooManyActiveKeys: user dry-two-active already has 2 active access keys"}},
		{"not opted in", "dry-unmanaged", exitFailed, []string{"refused: UserNotManaged: IAM user dry-unmanaged is not tagged keyrotor:managed=true"}},
		{"no such user", "dry-nobody", exitFailed, []string{"refused: UserNotFound"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq := lastSeq(env.Proxy)
			code, stdout, stderr := cli(t, "rotate", "--dry-run", "--user", tt.user, "--grace", "0", "--inactive", "0")
			if code != tt.wantCode {
				t.Fatalf("rotate --dry-run --user %s exited %d, want %d:\n%s\n%s", tt.user, code, tt.wantCode, stdout, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("the dry run printed no %q:\n%s", w, stdout)
				}
			}
			if reads, writes := writesBy(env.Proxy.Calls(), seq, env.Admin().AccessKeyID); len(writes) > 0 || reads == 0 {
				t.Errorf("the dry run made %d reads and these writes: %v", reads, writes)
			}
		})
	}
	// A running rotation holds the lock: refused as Begin refuses it, and the dry run --json
	// says so too.
	stopBusy := holdRotation(t, "/dry-busy/", "dry-busy")
	defer stopBusy()
	code, stdout, stderr := cli(t, "rotate", "--dry-run", "--user", "dry-busy", "--json")
	var report dryRunReport
	if err := json.Unmarshal([]byte(stdout), &report); err != nil || code != exitFailed || report.Refused != 1 ||
		report.Users[0].Refused == nil || report.Users[0].Refused.Error != rotation.RotationInProgress {
		t.Errorf("dry run of a user whose rotation runs exited %d (%v):\n%s\n%s", code, err, stdout, stderr)
	}
	if keys := awsCLI(t, nil, "iam", "list-access-keys", "--user-name", "dry-one"); !strings.Contains(keys, ok[0]) || strings.Count(keys, "AccessKeyId") != 1 {
		t.Errorf("the dry run changed the keys of dry-one: %s", keys)
	}
}

// userKind is what the dry run's fleet seeds for a user.
type userKind int

const (
	healthy    userKind = iota
	twoActive           // refused: TooManyActiveKeys
	inactive            // an inactive key deleted first to make room
	inUse               // its old key used by a consumer throughout
	unrecorded          // an old key no parameter held: kept inactive
	conflict            // its parameter was not written by keyrotor: ParameterConflict
)

func kindOf(i int) userKind {
	switch {
	case i%20 == 4:
		return conflict
	case i%20 == 0:
		return twoActive
	case i%20 == 1:
		return inactive
	case i%40 == 2:
		// One in forty, not one in twenty: each consumer signs 20 requests a second for the
		// whole fleet, and the local IAM serves them on the CPU the fleet needs.
		return inUse
	case i%20 == 3:
		return unrecorded
	}
	return healthy
}

// A dry run of a fleet of managed users over two listing pages (refused ones, ones whose old
// key is in use, ones with an inactive key or a key keyrotor never recorded) makes no write
// call, and its report matches, user by user, what the fleet then does. The engine runs on a
// virtual clock, so that the in-use rule's extensions cost no real time.
func TestDryRunOfAFleetOverTwoListingPagesMatchesWhatTheFleetThenDoes(t *testing.T) {
	if testing.Short() {
		t.Skip("a fleet of 101 users")
	}
	ctx := context.Background()
	upCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	e, err := localenv.Up(upCtx, localenv.Options{Clock: sfnlocal.NewVirtualClock(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	useEnv(t, e)
	admin := e.AdminConfig()
	iamc, ssmc := iam.NewFromConfig(admin), ssm.NewFromConfig(admin)

	// 101: IAM's ListUsers answers 100 users a page, so both the dry run's listing and the
	// fleet's cross a page boundary, and every kind of user appears at least three times
	// (in use: 2, 42, 82); a larger fleet adds time, not a path.
	const n, path = 101, "/dry-fleet/"
	users := make([]string, n)
	oldKeys := map[string][]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan int)
	setupErr := make(chan error, n)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				name := fmt.Sprintf("dry-%03d", i)
				users[i] = name
				u := localenv.ManagedUser{Name: name, Keys: 1, Parameter: rotation.DefaultParameterPrefix + name}
				switch kindOf(i) {
				case twoActive, inactive:
					u.Keys = 2
				case unrecorded, conflict:
					u.Parameter = ""
				}
				ids, err := e.CreateManagedUser(ctx, u)
				if err == nil {
					_, err = iamc.UpdateUser(ctx, &iam.UpdateUserInput{UserName: aws.String(name), NewPath: aws.String(path)})
				}
				if err == nil { // moto's UpdateUser drops the user's tags: the opt-in again
					_, err = iamc.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(name), Tags: []iamtypes.Tag{{Key: aws.String(rotation.ManagedTagKey), Value: aws.String(rotation.ManagedTagValue)}}})
				}
				if err == nil && kindOf(i) == conflict {
					_, err = ssmc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(rotation.DefaultParameterPrefix + name), Value: aws.String("set by hand"), Type: ssmtypes.ParameterTypeString})
				}
				if err == nil && kindOf(i) == inactive {
					_, err = iamc.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(name), AccessKeyId: aws.String(ids[1]), Status: iamtypes.StatusTypeInactive})
				}
				if err != nil {
					setupErr <- err
				}
				mu.Lock()
				oldKeys[name] = ids
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(setupErr)
	for err := range setupErr {
		t.Fatal(err)
	}

	// Consumers of the in-use users sign with the old key until the fleet has ended.
	stop := make(chan struct{})
	var consumers sync.WaitGroup
	for i, name := range users {
		if kindOf(i) != inUse {
			continue
		}
		p, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(rotation.DefaultParameterPrefix + name), WithDecryption: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		var k struct{ AccessKeyId, SecretAccessKey string }
		if err := json.Unmarshal([]byte(aws.ToString(p.Parameter.Value)), &k); err != nil {
			t.Fatal(err)
		}
		client := sts.NewFromConfig(admin, func(o *sts.Options) {
			o.Credentials = credentials.NewStaticCredentialsProvider(k.AccessKeyId, k.SecretAccessKey, "")
		})
		if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Fatal(err)
		}
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			for {
				select {
				case <-stop:
					return
				default:
					_, _ = client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	defer func() { close(stop); consumers.Wait() }()

	// The dry run.
	seq := lastSeq(e.Proxy)
	before := countExecutions(t, e)
	start := time.Now()
	code, stdout, stderr := cliFor(t, 8*time.Minute, "rotate", "--dry-run", "--all", "--path", path, "--grace", "0", "--inactive", "0", "--json")
	took := time.Since(start)
	if code != exitFailed || !strings.Contains(stderr, "would be refused") {
		t.Fatalf("rotate --dry-run --all exited %d, want %d (some refused):\n%s", code, exitFailed, stderr)
	}
	var report dryRunReport
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("--json output is not the report: %v", err)
	}
	reads, writes := writesBy(e.Proxy.Calls(), seq, e.Admin().AccessKeyID)
	if len(writes) > 0 || countExecutions(t, e) != before {
		t.Fatalf("the dry run wrote: %v (executions %d → %d)", writes, before, countExecutions(t, e))
	}
	fmt.Printf("dry run: %d users in %.1fs, %d refused, %d with an old key in use; %d read calls, %d write calls\n",
		report.Planned, took.Seconds(), report.Refused, report.InUse, reads, len(writes))
	plans := map[string]rotation.Plan{}
	for _, p := range report.Users {
		plans[p.UserName] = p
	}
	if len(plans) != n {
		t.Fatalf("the dry run planned %d users, want %d", len(plans), n)
	}

	// The fleet. Its grace of 2 s gives the consumers (one use every 50 ms) uses after each
	// verification, which is what StillInUse counts on an engine whose grace floor is 0: with no
	// grace, verification and deactivation came within one consumer period under load, and an
	// in-use key was sometimes judged unused.
	fleetStart := time.Now()
	code, stdout, stderr = cliFor(t, 8*time.Minute, "rotate", "--all", "--path", path, "--grace", "2", "--inactive", "0", "--max-concurrency", "40", "--wait")
	if code != exitFailed {
		t.Fatalf("rotate --all exited %d, want %d:\n%s\n%s", code, exitFailed, stdout, stderr)
	}
	fmt.Printf("fleet: rotate --all --wait returned after %.1fs\n", time.Since(fleetStart).Seconds())
	ends := childEnds(t, e, n)
	fmt.Printf("fleet: every rotation ended %.1fs after the start\n", time.Since(fleetStart).Seconds())

	differences := 0
	differ := func(user, format string, args ...any) {
		differences++
		if differences <= 10 {
			t.Errorf("%s: "+format, append([]any{user}, args...)...)
		}
	}
	for i, user := range users {
		p, end := plans[user], ends[user]
		if p.Refused != nil {
			if end.status != sfntypes.ExecutionStatusFailed || end.err != p.Refused.Error {
				differ(user, "dry run: refused %s; fleet: %s %s", p.Refused.Error, end.status, end.err)
			}
			continue
		}
		if end.status != sfntypes.ExecutionStatusSucceeded {
			differ(user, "dry run: rotates; fleet: %s %s", end.status, end.err)
			continue
		}
		var retire, deleted, kept []string
		for _, k := range p.Retire {
			retire = append(retire, k.AccessKeyID)
			if k.Delete {
				deleted = append(deleted, k.AccessKeyID)
			} else {
				kept = append(kept, k.AccessKeyID)
			}
		}
		o := end.out
		if !slices.Equal(retire, o.DeactivatedAccessKeyIDs) || !slices.Equal(deleted, o.DeletedAccessKeyIDs) || !slices.Equal(kept, o.KeptInactiveAccessKeyIDs) {
			differ(user, "dry run: deactivate %v, delete %v, keep %v; fleet: %v, %v, %v", retire, deleted, kept, o.DeactivatedAccessKeyIDs, o.DeletedAccessKeyIDs, o.KeptInactiveAccessKeyIDs)
		}
		if p.ExtendsGrace != (o.Extensions > 0) {
			differ(user, "dry run: extends grace %v; fleet: %d extensions", p.ExtendsGrace, o.Extensions)
		}
		for _, id := range p.DeleteFirst {
			if keyExists(t, iamc, user, id) {
				differ(user, "dry run: delete %s first; it still exists", id)
			}
		}
		if want := kindOf(i); (want == inUse) != p.ExtendsGrace || (want == inactive) != (len(p.DeleteFirst) == 1) || (want == unrecorded) != (len(kept) == 1) {
			t.Errorf("%s (kind %d): the dry run found extendsGrace %v, deleteFirst %v, kept %v", user, want, p.ExtendsGrace, p.DeleteFirst, kept)
		}
	}
	fmt.Printf("dry run vs fleet: %d users, %d differences\n", n, differences)
}

// cliFor runs keyrotor in-process, as cli does, within timeout.
func cliFor(t *testing.T, timeout time.Duration, args ...string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func keyExists(t *testing.T, c *iam.Client, user, id string) bool {
	t.Helper()
	out, err := c.ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(out.AccessKeyMetadata, func(k iamtypes.AccessKeyMetadata) bool { return aws.ToString(k.AccessKeyId) == id })
}

func countExecutions(t *testing.T, e *localenv.Env) int {
	t.Helper()
	n := 0
	for _, m := range []string{e.StateMachineARN, e.FleetStateMachineARN()} {
		pages := sfn.NewListExecutionsPaginator(e.SFN(), &sfn.ListExecutionsInput{StateMachineArn: aws.String(m)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			n += len(page.Executions)
		}
	}
	return n
}

type childEnd struct {
	status sfntypes.ExecutionStatus
	err    string
	out    rotation.Rotation
}

// childEnds waits until every rotation the fleet started has ended (the fleet
// returns once each key is verified; retiring goes on) and returns each user's outcome.
func childEnds(t *testing.T, e *localenv.Env, n int) map[string]childEnd {
	t.Helper()
	ctx := context.Background()
	ends := map[string]childEnd{}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var children []sfntypes.ExecutionListItem
		running := 0
		pages := sfn.NewListExecutionsPaginator(e.SFN(), &sfn.ListExecutionsInput{StateMachineArn: aws.String(e.StateMachineARN)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range page.Executions {
				// This engine runs only the fleet's rotations (their StartDate is on its virtual
				// clock, not comparable with the wall clock).
				children = append(children, x)
				if x.Status == sfntypes.ExecutionStatusRunning {
					running++
				}
			}
		}
		done := len(children) >= n && running == 0
		if done || time.Now().After(deadline) {
			for _, x := range children {
				d, err := e.SFN().DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: x.ExecutionArn})
				if err != nil {
					t.Fatal(err)
				}
				var in rotation.Rotation
				_ = json.Unmarshal([]byte(aws.ToString(d.Input)), &in)
				end := childEnd{status: d.Status, err: aws.ToString(d.Error)}
				_ = json.Unmarshal([]byte(aws.ToString(d.Output)), &end.out)
				ends[in.UserName] = end
				if d.Status == sfntypes.ExecutionStatusRunning {
					hist, _ := e.StepFunctions.History(ctx, aws.ToString(x.ExecutionArn))
					last := ""
					if len(hist) > 0 {
						last = hist[len(hist)-1].Type
					}
					t.Logf("%s still running; last event %s", in.UserName, last)
				}
			}
			if !done {
				t.Errorf("after 5 minutes %d of the fleet's %d rotations started, %d still running", len(children), n, running)
			}
			return ends
		}
		time.Sleep(time.Second)
	}
}
