package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"golang.org/x/sync/errgroup"

	"github.com/keyrotor/keyrotor/internal/fleet"
	"github.com/keyrotor/keyrotor/internal/harness/aslrules"
	"github.com/keyrotor/keyrotor/internal/harness/testenv"
	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// FleetRun is one fleet measurement, an entry of results.json's `fleet`. The first eight
// fields are the issue's; the rest say what the figure measured and on what machine.
type FleetRun struct {
	Users int `json:"users"`
	// IAMRate is the fault proxy's token-bucket rate on IAM (null: unthrottled).
	IAMRate *float64 `json:"iam_rate_per_s"`
	// Seconds runs (wall clock) from StartExecution of the fleet until every rotation it
	// started has ended: every new key verified and every old key retired. The fleet itself
	// ends earlier, at the last cut-over (FleetSeconds): its children do not wait for retirement.
	Seconds float64 `json:"seconds"`
	// AWSClockSeconds is the same span on AWS's clock (null: waits of 0 on the wall clock,
	// where it equals Seconds): the engine ran on a virtual clock, whose time stands still while
	// anything works and jumps when everything waits, so the span is the wall time of the work
	// (the Lambdas, IAM's rate) plus the virtual time the waits skipped.
	AWSClockSeconds *float64 `json:"aws_clock_seconds"`
	// FleetSeconds is the wall time until the fleet execution ended (the last cut-over).
	FleetSeconds float64 `json:"fleet_seconds"`
	// GraceSeconds and InactiveSeconds are the rotations' waits.
	GraceSeconds    int `json:"grace_seconds"`
	InactiveSeconds int `json:"inactive_seconds"`
	// Accounts is how many member accounts the fleet rotated (accountIds), Users counting the
	// users of all; 0: the engine's own account.
	Accounts int `json:"accounts"`
	// FloorS is the least time IAM's rate allows for the IAM calls the proxy let through in this
	// run: (calls − the bucket's burst) / rate, i.e. IAM calls per rotation × users / rate
	// (null when unthrottled); over member accounts, each paced by its own bucket, the largest
	// one account's floor. With waits, grace + inactive are added: no rotation ends sooner.
	FloorS   *float64 `json:"floor_seconds"`
	Failed   int      `json:"failed"`
	Violated int      `json:"violations"`
	// UnsafeViolations counts the users whose state a failed rotation did not leave safe, or
	// that a successful one left wrong: a lock left, more than 2 keys, not exactly one active
	// key, or a parameter holding a key that is not the active one. A user whose first rotation
	// failed and rolled back has no parameter yet: a violation, but not an unsafe one (null:
	// measured before this was counted).
	UnsafeViolations *int `json:"unsafe_violations,omitempty"`
	// AccountPace is each account's share of IAM over member accounts: whether the accounts
	// ran side by side, each at its own rate, shows in when each one's IAM calls ended.
	AccountPace []AccountPace `json:"account_pace,omitempty"`
	// RotationsFailed counts the rotations started in the run that ended FAILED or ABORTED,
	// those that failed after their cut-over included (the fleet's summary counts them only
	// until the cut-over); RotationFailures are the first few, as Error: Cause.
	RotationsFailed  *int     `json:"rotations_failed,omitempty"` // nil: not counted (runs before it was)
	RotationFailures []string `json:"rotation_failures,omitempty"`
	// ViolationExamples say what was wrong with the first few violating users.
	ViolationExamples []string `json:"violation_examples,omitempty"`
	Events            int      `json:"parent_history_events"`
	MaxState          int      `json:"max_state_bytes"`

	// Ratio is Seconds / FloorS.
	Ratio *float64 `json:"seconds_over_floor"`
	// VerifiedS runs from StartExecution to the last successful sts:GetCallerIdentity signed by
	// a key that a parameter holds at the end: when the last new key was verified.
	VerifiedS float64 `json:"verified_seconds"`
	// IAMBurst is the token bucket's size (calls allowed at once after a quiet spell).
	IAMBurst    int `json:"iam_burst,omitempty"`
	Concurrency int `json:"max_concurrency"`
	// Round is which rotation of the same users this run was in its engine (1: the users' first,
	// each with one key no parameter holds yet; 2: the key the first round stored is the old one).
	Round int `json:"round,omitempty"`
	// IAMCalls are the IAM calls that reached moto (the listing's included); IAMThrottled the
	// ones the proxy answered Throttling; IAMCallsPerRotation = IAMCalls / Users.
	IAMCalls            int     `json:"iam_calls"`
	IAMCallsPerRotation float64 `json:"iam_calls_per_rotation"`
	IAMThrottled        int     `json:"iam_throttled"`
	// IAMCallsByAction are the IAM calls that reached moto, by API, per rotation (the
	// listing's ListUsers and ListUserTags included, over all users).
	IAMCallsByAction map[string]float64 `json:"iam_calls_per_rotation_by_action,omitempty"`
	// Rotated and Skipped are the fleet summary's counts (Failed counts failed, skipped and
	// missing rotations alike).
	Rotated int `json:"rotated"`
	Skipped int `json:"skipped"`
	// FailedBy counts the failed and skipped rotations the summary shows by their error, with
	// one cause of each.
	FailedBy []FailureKind `json:"failed_by,omitempty"`
	// CPU seconds spent during the run by moto, by the Lambda bootstraps and by this process
	// (sfnlocal, lambdahost, the fault proxy), and moto's share of the machine's CPU time
	// (CPU seconds over wall seconds × cores).
	MotoCPUS      float64 `json:"moto_cpu_s"`
	MotoShare     float64 `json:"moto_cpu_share"`
	BootstrapCPUS float64 `json:"bootstrap_cpu_s"`
	HarnessCPUS   float64 `json:"harness_cpu_s"`
	Cores         int     `json:"cores"`
	// LoadStart and LoadEnd are the 1-minute load averages at the run's start and end.
	LoadStart float64 `json:"load_average_start"`
	LoadEnd   float64 `json:"load_average_end"`
	Date      string  `json:"date"`
	Commit    string  `json:"commit,omitempty"`
}

// FailureKind is one error of failed rotations, how many the summary shows and one cause.
type FailureKind struct {
	Error string `json:"error"`
	Count int    `json:"count"`
	Cause string `json:"cause"`
}

// FleetPlan is how one fleet run is driven.
type FleetPlan struct {
	// Concurrency is the fleet's maxConcurrency.
	Concurrency int
	// IAMRate holds IAM to this many calls per second in the fault proxy (0: unthrottled);
	// IAMBurst is the bucket's size (0: one second of the rate).
	IAMRate  float64
	IAMBurst int
	// GraceSeconds and InactiveSeconds are the rotations' waits (0 and 0: retire at once).
	GraceSeconds, InactiveSeconds int
	// Accounts are the member accounts to rotate (accountIds), the same user names in each,
	// IAM paced per account; none: the engine's own account.
	Accounts []string
	// Clock is the engine's virtual clock when it runs on AWS's clock (nil: the wall clock).
	Clock *sfnlocal.VirtualClock
}

// CreateFleet creates n managed users with one key each under path (once per benchmark).
func CreateFleet(ctx context.Context, env *localenv.Env, path string, n int) ([]string, error) {
	names := fleetNames(path, n)
	return names, testenv.CreateFleetUsers(ctx, env, path, names, 1)
}

func fleetNames(path string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%05d", strings.Trim(path, "/"), i)
	}
	return names
}

// MeasureFleet runs the fleet over the users under path (grace and inactive 0), IAM held to
// plan.IAMRate by the fault proxy during the run, and checks the invariants of every user
// afterwards (IAM unthrottled again): exactly one active key and at most two, held by its
// parameter and verified with STS during the run, and no lock left.
func MeasureFleet(ctx context.Context, env *localenv.Env, path string, users []string, plan FleetPlan) (FleetRun, error) {
	run := FleetRun{Users: len(users) * max(1, len(plan.Accounts)), Concurrency: plan.Concurrency, Cores: runtime.NumCPU(),
		GraceSeconds: plan.GraceSeconds, InactiveSeconds: plan.InactiveSeconds, Accounts: len(plan.Accounts)}
	in := map[string]any{"pathPrefix": path, "graceSeconds": plan.GraceSeconds, "inactiveSeconds": plan.InactiveSeconds, "maxConcurrency": plan.Concurrency}
	if len(plan.Accounts) > 0 {
		in["accountIds"] = plan.Accounts
	}
	input, err := json.Marshal(in)
	if err != nil {
		return run, err
	}
	if plan.IAMRate > 0 {
		rate := plan.IAMRate
		run.IAMRate = &rate
		run.IAMBurst = plan.IAMBurst
		if run.IAMBurst <= 0 {
			run.IAMBurst = max(1, int(rate))
		}
	}
	env.Proxy.ResetCalls()
	if run.IAMRate != nil {
		if err := env.Proxy.SetRateLimit(faultproxy.RateLimit{Service: "iam", PerSecond: *run.IAMRate, Burst: run.IAMBurst, PerAccount: len(plan.Accounts) > 0}); err != nil {
			return run, err
		}
	}
	moto0, boot0, self0 := childCPUSeconds("moto"), childCPUSeconds("bootstrap"), selfCPUSeconds()
	run.LoadStart = loadAverage()
	run.Date = time.Now().UTC().Format(time.RFC3339)
	start := time.Now()
	var virtualStart time.Time
	if plan.Clock != nil {
		virtualStart = plan.Clock.Now()
	}
	arn, err := env.StepFunctions.StartExecution(ctx, env.FleetStateMachineARN(), "", string(input))
	if err != nil {
		return run, fmt.Errorf("start the fleet: %w", err)
	}
	x, err := env.StepFunctions.Wait(ctx, arn)
	if err != nil {
		return run, fmt.Errorf("fleet: %w", err)
	}
	run.FleetSeconds = time.Since(start).Seconds()
	// The fleet lets each rotation go at its cut-over: the run ends when the last one ends.
	if err := waitRotationsEnd(ctx, env); err != nil {
		return run, err
	}
	run.Seconds = time.Since(start).Seconds()
	rotationsFailed := 0
	run.RotationsFailed = &rotationsFailed
	for _, status := range []string{sfnlocal.StatusFailed, sfnlocal.StatusAborted, sfnlocal.StatusTimedOut} {
		ended, err := env.StepFunctions.ListExecutions(ctx, env.StateMachineARN, status)
		if err != nil {
			return run, fmt.Errorf("list %s rotations: %w", status, err)
		}
		for _, e := range ended {
			if e.StartDate.Before(start) {
				continue
			}
			rotationsFailed++
			if len(run.RotationFailures) < 5 {
				cause := e.Cause
				if len(cause) > 300 {
					cause = cause[:300] + "…"
				}
				run.RotationFailures = append(run.RotationFailures, status+" "+e.Error+": "+cause)
			}
		}
	}
	if plan.Clock != nil {
		aws := run.Seconds + plan.Clock.Now().Sub(virtualStart).Seconds()
		run.AWSClockSeconds = &aws
	}
	run.MotoCPUS = childCPUSeconds("moto") - moto0
	run.BootstrapCPUS = childCPUSeconds("bootstrap") - boot0
	run.HarnessCPUS = selfCPUSeconds() - self0
	run.MotoShare = run.MotoCPUS / (run.Seconds * float64(run.Cores))
	run.LoadEnd = loadAverage()
	if err := env.Proxy.SetRateLimit(faultproxy.RateLimit{Service: "iam"}); err != nil {
		return run, err
	}
	calls := env.Proxy.Calls()
	env.Proxy.ResetCalls()
	byAccount := map[string]int{}
	pace := map[string]*AccountPace{}
	run.IAMCallsByAction = map[string]float64{}
	for _, c := range calls {
		if c.Service != "iam" || c.Time.After(start.Add(time.Duration(run.Seconds*float64(time.Second)))) {
			continue
		}
		ap := pace[c.Account]
		if ap == nil {
			ap = &AccountPace{Account: c.Account}
			pace[c.Account] = ap
		}
		switch {
		case c.RateLimited:
			run.IAMThrottled++
			ap.IAMThrottled++
		case c.Fault == "":
			run.IAMCalls++
			byAccount[c.Account]++
			run.IAMCallsByAction[c.Action]++
			ap.IAMCalls++
			ap.IAMEndSeconds = max(ap.IAMEndSeconds, math.Round(c.Time.Sub(start).Seconds()*10)/10)
		}
	}
	if len(plan.Accounts) > 0 {
		for _, ap := range pace {
			run.AccountPace = append(run.AccountPace, *ap)
		}
		slices.SortFunc(run.AccountPace, func(a, b AccountPace) int { return strings.Compare(a.Account, b.Account) })
	}
	for a := range run.IAMCallsByAction {
		run.IAMCallsByAction[a] = math.Round(run.IAMCallsByAction[a]/float64(max(1, run.Users))*100) / 100
	}
	run.IAMCallsPerRotation = float64(run.IAMCalls) / float64(max(1, run.Users))
	if run.IAMRate != nil {
		busiest := 0
		for _, n := range byAccount {
			if len(plan.Accounts) == 0 {
				busiest += n
			} else {
				busiest = max(busiest, n)
			}
		}
		floor := float64(max(0, busiest-run.IAMBurst)) / *run.IAMRate
		measured := run.Seconds
		if run.AWSClockSeconds != nil {
			floor += float64(plan.GraceSeconds + plan.InactiveSeconds)
			measured = *run.AWSClockSeconds
		}
		ratio := measured / floor
		run.FloorS, run.Ratio = &floor, &ratio
	}

	if x.Status != sfnlocal.StatusSucceeded {
		return run, fmt.Errorf("fleet ended %s: %s %s", x.Status, x.Error, x.Cause)
	}
	var sum fleet.Summary
	if err := json.Unmarshal(x.Output, &sum); err != nil {
		return run, fmt.Errorf("fleet output: %w", err)
	}
	run.Rotated, run.Skipped = sum.Counts.Rotated, sum.Counts.Skipped
	for _, o := range append(sum.Failed, sum.Skipped...) {
		i := slices.IndexFunc(run.FailedBy, func(k FailureKind) bool { return k.Error == o.Error })
		if i < 0 {
			run.FailedBy = append(run.FailedBy, FailureKind{Error: o.Error, Cause: o.Cause})
			i = len(run.FailedBy) - 1
		}
		run.FailedBy[i].Count++
	}
	run.Failed = sum.Counts.Failed + sum.Counts.Skipped + (run.Users - sum.Counts.Rotated - sum.Counts.Failed - sum.Counts.Skipped)
	hist, err := env.StepFunctions.History(ctx, arn)
	if err != nil {
		return run, err
	}
	run.Events = len(hist)
	for _, ev := range hist {
		switch d := ev.Details.(type) {
		case *sfnlocal.StateEnteredEventDetails:
			run.MaxState = max(run.MaxState, len(d.Input))
		case *sfnlocal.StateExitedEventDetails:
			run.MaxState = max(run.MaxState, len(d.Output))
		}
	}
	verified := map[string]time.Time{} // key id → its last successful GetCallerIdentity
	for _, c := range calls {
		if c.Service == "sts" && c.Action == "GetCallerIdentity" && c.Status == 200 {
			verified[c.AccessKeyID] = c.Time
		}
	}
	held, violations, unsafe, examples, err := fleetViolations(ctx, env, plan.Accounts, users, verified)
	if err != nil {
		return run, err
	}
	run.Violated, run.UnsafeViolations, run.ViolationExamples = violations, &unsafe, examples
	for _, id := range held {
		if t, ok := verified[id]; ok {
			run.VerifiedS = max(run.VerifiedS, t.Sub(start).Seconds())
		}
	}
	return run, nil
}

// AccountPace is one account's IAM calls in a fleet run.
type AccountPace struct {
	Account       string  `json:"account"`
	IAMCalls      int     `json:"iam_calls"`
	IAMThrottled  int     `json:"iam_throttled"`
	IAMEndSeconds float64 `json:"iam_end_seconds"` // its last IAM call that reached moto, after the start
}

// fleetViolations checks every user (a few at a time) and counts those that do not end with
// at most two keys, exactly one of them active, held by their parameter and verified with STS
// (a successful GetCallerIdentity signed by it in verified), and no lock; and among them the
// unsafe ones (see FleetRun.UnsafeViolations). It returns the held key ids and what was wrong
// with the first few violating users.
func fleetViolations(ctx context.Context, env *localenv.Env, accounts, names []string, verified map[string]time.Time) ([]string, int, int, []string, error) {
	if len(accounts) == 0 {
		accounts = []string{""}
	}
	type member struct {
		iam           *iam.Client
		ssm           *ssm.Client
		account, name string
	}
	var users []member
	for _, a := range accounts {
		cfg := env.AdminConfig()
		if a != "" {
			var err error
			if cfg, err = env.AccountConfig(a); err != nil {
				return nil, 0, 0, nil, err
			}
		}
		ic, sc := iam.NewFromConfig(cfg), ssm.NewFromConfig(cfg)
		for _, n := range names {
			users = append(users, member{ic, sc, a, n})
		}
	}
	held := make([]string, len(users))
	bad := make([]bool, len(users))
	unsafe := make([]bool, len(users))
	why := make([]string, len(users))
	var g errgroup.Group
	g.SetLimit(8)
	for i, m := range users {
		g.Go(func() error {
			admin, params, u := m.iam, m.ssm, m.name
			keys, err := admin.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(u)})
			if err != nil {
				return fmt.Errorf("check %s: %w", u, err)
			}
			var active []string
			for _, k := range keys.AccessKeyMetadata {
				if k.Status == iamtypes.StatusTypeActive {
					active = append(active, aws.ToString(k.AccessKeyId))
				}
			}
			p, err := params.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(env.ParameterPrefix + u), WithDecryption: aws.Bool(true)})
			var value struct{ AccessKeyId string }
			if err == nil {
				_ = json.Unmarshal([]byte(aws.ToString(p.Parameter.Value)), &value)
			}
			held[i] = value.AccessKeyId
			_, lockErr := params.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(env.ParameterPrefix + u + ".lock")})
			_, wasVerified := verified[value.AccessKeyId]
			unsafe[i] = len(keys.AccessKeyMetadata) > 2 || len(active) != 1 || lockErr == nil || (value.AccessKeyId != "" && value.AccessKeyId != active[0])
			bad[i] = unsafe[i] || value.AccessKeyId != active[0] || !wasVerified
			why[i] = fmt.Sprintf("%s %s: %d keys, active %v, parameter holds %q (verified %v), lock left %v",
				m.account, u, len(keys.AccessKeyMetadata), active, value.AccessKeyId, wasVerified, lockErr == nil)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, 0, 0, nil, err
	}
	n, u := 0, 0
	var examples []string
	for i := range users {
		if bad[i] {
			n++
			if len(examples) < 5 {
				examples = append(examples, why[i])
			}
		}
		if unsafe[i] {
			u++
		}
	}
	return held, n, u, examples, nil
}

// FleetSpec is one line of the fleet plan: Repeats runs over Users users (in each of Accounts
// member accounts, if any), IAM held to IAMRate calls per second (0: unthrottled; per account
// over member accounts); AWSClock runs the engine on a virtual clock with the default waits
// (rotation.DefaultGraceSeconds, DefaultInactiveSeconds) instead of waits of 0.
type FleetSpec struct {
	Accounts int
	Users    int
	IAMRate  float64
	Repeats  int
	AWSClock bool
}

func (s FleetSpec) String() string {
	out := strconv.Itoa(s.Users)
	if s.Accounts > 0 {
		out = strconv.Itoa(s.Accounts) + "*" + out
	}
	if s.IAMRate > 0 {
		out += "@" + strconv.FormatFloat(s.IAMRate, 'f', -1, 64)
	}
	if s.Repeats > 1 {
		out += "x" + strconv.Itoa(s.Repeats)
	}
	if s.AWSClock {
		out += ":aws"
	}
	return out
}

// ParseFleetSpecs reads a comma-separated plan of [ACCOUNTS*]USERS[@RATE][xREPEATS][:aws]
// ("5000@25,1000x3": one run of 5,000 users with IAM held to 25 calls/s, three of 1,000
// unthrottled; "10*500@40:aws": 500 users in each of 10 member accounts, IAM at 40 calls/s per
// account, on AWS's clock with the default waits); "none" or "" is no fleet run.
func ParseFleetSpecs(s string) ([]FleetSpec, error) {
	if s == "" || s == "none" {
		return nil, nil
	}
	var specs []FleetSpec
	for _, part := range strings.Split(s, ",") {
		spec := FleetSpec{Repeats: 1}
		rest := strings.TrimSpace(part)
		if head, ok := strings.CutSuffix(rest, ":aws"); ok {
			spec.AWSClock, rest = true, head
		}
		if accounts, tail, ok := strings.Cut(rest, "*"); ok {
			n, err := strconv.Atoi(accounts)
			if err != nil || n < 1 || n > 20 {
				return nil, fmt.Errorf("fleet run %q: accounts %q must be 1 … 20 member accounts", part, accounts)
			}
			spec.Accounts, rest = n, tail
		}
		if head, reps, ok := strings.Cut(rest, "x"); ok {
			n, err := strconv.Atoi(reps)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("fleet run %q: repeats %q is not a positive whole number", part, reps)
			}
			spec.Repeats, rest = n, head
		}
		if head, rate, ok := strings.Cut(rest, "@"); ok {
			r, err := strconv.ParseFloat(rate, 64)
			if err != nil || r <= 0 {
				return nil, fmt.Errorf("fleet run %q: IAM rate %q is not a positive number of calls per second", part, rate)
			}
			spec.IAMRate, rest = r, head
		}
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 || n > 5000 {
			return nil, fmt.Errorf("fleet run %q: users %q must be 1 … 5,000 (IAM's per-account maximum)", part, rest)
		}
		spec.Users = n
		specs = append(specs, spec)
	}
	return specs, nil
}

// measureFleets runs the plan: each spec in a local engine of its own (its users created
// once, then rotated Repeats times), IAM's rate set only while a fleet runs.
// With shared set, every spec runs in that engine instead (and it is left running).
func measureFleets(ctx context.Context, root string, shared *localenv.Env, specs []FleetSpec, concurrency int, burstS float64, commit string, log func(msg string, args ...any)) ([]FleetRun, error) {
	if burstS <= 0 {
		burstS = 1
	}
	var runs []FleetRun
	for si, spec := range specs {
		env := shared
		var clock *sfnlocal.VirtualClock
		if env == nil || spec.AWSClock || spec.Accounts > 0 {
			// On AWS's clock, or over member accounts: an engine of the spec's own.
			opts := localenv.Options{Root: root, Accounts: spec.Accounts}
			if spec.AWSClock {
				clock = sfnlocal.NewVirtualClock(time.Now())
				opts.Clock = clock
			}
			var err error
			if env, err = localenv.Up(ctx, opts); err != nil {
				return runs, fmt.Errorf("fleet %s: %w", spec, err)
			}
		}
		own := env != shared
		closeEnv := func() {
			if own {
				env.Close()
			}
		}
		path := fmt.Sprintf("/bench-fleet-%d-%d/", si, spec.Users)
		log("bench: creating fleet users", "users", spec.Users, "accounts", spec.Accounts)
		plan := FleetPlan{Concurrency: concurrency, IAMRate: spec.IAMRate, Clock: clock, Accounts: env.MemberAccountIDs()}
		names := fleetNames(path, spec.Users)
		var err error
		if len(plan.Accounts) == 0 {
			err = testenv.CreateFleetUsers(ctx, env, path, names, 1)
		}
		for _, a := range plan.Accounts {
			if err != nil {
				break
			}
			err = testenv.CreateFleetUsersIn(ctx, env, a, path, names, 1)
		}
		if err != nil {
			closeEnv()
			return runs, fmt.Errorf("fleet %s: %w", spec, err)
		}
		if spec.AWSClock {
			plan.GraceSeconds, plan.InactiveSeconds = rotation.DefaultGraceSeconds, rotation.DefaultInactiveSeconds
		}

		switch {
		case plan.Concurrency > 0:
		case spec.AWSClock || spec.Accounts > 0:
			// The fleet's own default, per account: the goals on AWS's clock are stated at it,
			// and the listing interleaves the accounts so that they run side by side.
			plan.Concurrency = fleet.DefaultFleetConcurrency * max(1, spec.Accounts)
		case spec.IAMRate > 0:
			plan.Concurrency = DefaultThrottledFleetConcurrency
		default:
			plan.Concurrency = DefaultFleetConcurrency
		}
		if spec.IAMRate > 0 {
			plan.IAMBurst = max(1, int(spec.IAMRate*burstS))
		}
		for i := range spec.Repeats {
			log("bench: fleet", "users", spec.Users, "iamRate", spec.IAMRate, "run", i+1)
			run, err := MeasureFleet(ctx, env, path, names, plan)
			run.Commit, run.Round = commit, i+1
			if err != nil {
				closeEnv()
				return runs, fmt.Errorf("fleet %s, run %d: %w", spec, i+1, err)
			}
			log("bench: fleet done", "users", run.Users, "seconds", run.Seconds, "floorSeconds", run.FloorS, "failed", run.Failed,
				"violations", run.Violated, "iamCallsPerRotation", run.IAMCallsPerRotation, "iamThrottled", run.IAMThrottled, "motoShare", run.MotoShare, "violationExamples", run.ViolationExamples, "rotationsFailed", *run.RotationsFailed, "rotationFailures", run.RotationFailures, "accountPace", run.AccountPace)
			runs = append(runs, run)
		}
		closeEnv()
	}
	return runs, nil
}

// FleetBudget is the fleet definition's worst case at IAM's 5,000 users per account, as
// internal/harness/aslrules models it (what `make lint-asl` prints), against AWS's quotas.
type FleetBudget struct {
	Definition       string `json:"definition"`
	Users            int    `json:"users"`
	HistoryEvents    int    `json:"history_events"`
	HistoryQuota     int    `json:"history_events_quota"`
	StateBytes       int    `json:"largest_fleet_sized_state_bytes"`
	StateQuotaBytes  int    `json:"state_quota_bytes"`
	ProblemsReported int    `json:"problems"`
}

const fleetDefinition = "statemachine/rotate-fleet.asl.json"

func fleetBudget(root string) (FleetBudget, error) {
	src, err := os.ReadFile(filepath.Join(root, fleetDefinition))
	if err != nil {
		return FleetBudget{}, fmt.Errorf("bench: %w", err)
	}
	rep, err := aslrules.Check(aslrules.FillPlaceholders(src), aslrules.Options{LoopBounds: aslrules.KeyrotorLoops})
	if err != nil {
		return FleetBudget{}, fmt.Errorf("bench: %s: %w", fleetDefinition, err)
	}
	return FleetBudget{
		Definition: fleetDefinition, Users: aslrules.FleetUsers,
		HistoryEvents: rep.Events, HistoryQuota: aslrules.MaxHistoryEvents,
		StateBytes: rep.Payload, StateQuotaBytes: aslrules.MaxPayloadBytes, ProblemsReported: len(rep.Problems),
	}, nil
}

// fleetPlanFor is the fleet plan of opts: its Fleet, or the size's default.
func fleetPlanFor(opts Options) ([]FleetSpec, error) {
	plan := opts.Fleet
	if plan == "" {
		plan = DefaultFleetPlan
		if opts.Size == Tiny {
			plan = TinyFleetPlan
		}
	}
	specs, err := ParseFleetSpecs(plan)
	if err != nil {
		return nil, fmt.Errorf("--fleet: %w", err)
	}
	return specs, nil
}

// runFleetOnly measures the fleet plan alone (or reads runs from opts.FleetFrom) and writes it
// into the output directory's results.json, keeping its other figures.
func runFleetOnly(ctx context.Context, root, out string, opts Options, log *slog.Logger) (*Results, error) {
	r := &Results{}
	if b, err := os.ReadFile(filepath.Join(out, "results.json")); err == nil {
		if err := json.Unmarshal(b, r); err != nil {
			return nil, fmt.Errorf("bench: %s: %w", filepath.Join(out, "results.json"), err)
		}
	}
	var runs []FleetRun
	if len(opts.FleetFrom) > 0 {
		for _, f := range opts.FleetFrom {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("bench: %w", err)
			}
			var from Results
			if err := json.Unmarshal(b, &from); err != nil {
				return nil, fmt.Errorf("bench: %s: %w", f, err)
			}
			runs = append(runs, from.Fleet...)
		}
	} else {
		specs, err := fleetPlanFor(opts)
		if err != nil {
			return nil, err
		}
		if runs, err = measureFleets(ctx, root, nil, specs, opts.FleetConcurrency, opts.FleetBurstS, gitCommit(ctx, root), log.Info); err != nil {
			return nil, err
		}
	}
	if opts.FleetAppend {
		r.Fleet = append(r.Fleet, runs...)
	} else {
		r.Fleet = runs
	}
	if b, err := os.ReadFile(filepath.Join(root, setupTimesFile)); err == nil {
		r.SetupTimes = strings.TrimSpace(string(b))
	}
	var err error
	if r.FleetBudget, err = fleetBudget(root); err != nil {
		return nil, err
	}
	r.Targets = targets(r)
	if err := write(out, r); err != nil {
		return nil, err
	}
	return r, nil
}

// FleetGroup is the runs of one (users, rate) pair, with their spread.
type FleetGroup struct {
	Users                int
	IAMRate              *float64
	Accounts             int
	AWSClock             bool // runs on AWS's clock (aws_clock_seconds), with the rotations' waits
	Runs                 []FleetRun
	MinS, MaxS           float64
	MinRatio, MaxRatio   float64
	Failed, Violations   int
	WithinGoal           bool // every run within Goal× its floor, 0 failed, 0 violations
	Goal                 float64
	MinShare, MaxShare   float64
	MinLoad, MaxLoad     float64
	MinCalls, MaxCalls   float64
	MaxEvents, MaxStateB int
}

// FleetGoalRatio is the goal: a throttled fleet within 1.25× of IAM's floor (over
// member accounts: of the largest one account's floor); on AWS's clock, with the rotations'
// waits, within FleetAWSClockGoalRatio × (floor + grace + inactive).
const (
	FleetGoalRatio         = 1.25
	FleetAWSClockGoalRatio = 1.10
)

func (g FleetGroup) goal() float64 {
	if g.AWSClock && g.Accounts == 0 {
		return FleetAWSClockGoalRatio
	}
	return FleetGoalRatio
}

func groupFleet(runs []FleetRun) []FleetGroup {
	var groups []FleetGroup
	for _, r := range runs {
		i := slices.IndexFunc(groups, func(g FleetGroup) bool {
			return g.Users == r.Users && g.Accounts == r.Accounts && g.AWSClock == (r.AWSClockSeconds != nil) &&
				((g.IAMRate == nil && r.IAMRate == nil) || (g.IAMRate != nil && r.IAMRate != nil && *g.IAMRate == *r.IAMRate))
		})
		if i < 0 {
			groups = append(groups, FleetGroup{Users: r.Users, IAMRate: r.IAMRate, Accounts: r.Accounts, AWSClock: r.AWSClockSeconds != nil})
			i = len(groups) - 1
		}
		groups[i].Runs = append(groups[i].Runs, r)
	}
	for gi := range groups {
		g := &groups[gi]
		g.WithinGoal, g.Goal = true, g.goal()
		for i, r := range g.Runs {
			ratio := 0.0
			if r.Ratio != nil {
				ratio = *r.Ratio
			}
			load := max(r.LoadStart, r.LoadEnd)
			if i == 0 {
				g.MinS, g.MaxS, g.MinRatio, g.MaxRatio = r.Seconds, r.Seconds, ratio, ratio
				g.MinShare, g.MaxShare, g.MinLoad, g.MaxLoad = r.MotoShare, r.MotoShare, min(r.LoadStart, r.LoadEnd), load
				g.MinCalls, g.MaxCalls = r.IAMCallsPerRotation, r.IAMCallsPerRotation
			}
			g.MinS, g.MaxS = min(g.MinS, r.Seconds), max(g.MaxS, r.Seconds)
			g.MinRatio, g.MaxRatio = min(g.MinRatio, ratio), max(g.MaxRatio, ratio)
			g.MinShare, g.MaxShare = min(g.MinShare, r.MotoShare), max(g.MaxShare, r.MotoShare)
			g.MinLoad, g.MaxLoad = min(g.MinLoad, r.LoadStart, r.LoadEnd), max(g.MaxLoad, load)
			g.MinCalls, g.MaxCalls = min(g.MinCalls, r.IAMCallsPerRotation), max(g.MaxCalls, r.IAMCallsPerRotation)
			g.MaxEvents, g.MaxStateB = max(g.MaxEvents, r.Events), max(g.MaxStateB, r.MaxState)
			g.Failed += r.Failed
			g.Violations += r.Violated
			if r.Failed != 0 || r.Violated != 0 || (r.Ratio != nil && *r.Ratio > g.Goal) {
				g.WithinGoal = false
			}
		}
	}
	return groups
}

// childCPUSeconds is the CPU time (user + system) of this process's children whose command
// name contains name, from Linux's /proc (0 elsewhere).
func childCPUSeconds(name string) float64 {
	me := strconv.Itoa(os.Getpid())
	entries, _ := os.ReadDir("/proc")
	total := 0.0
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || end+2 > len(s) {
			continue
		}
		f := strings.Fields(s[end+2:])
		if len(f) < 13 || f[1] != me || !strings.Contains(s[open+1:end], name) {
			continue
		}
		user, _ := strconv.Atoi(f[11])
		system, _ := strconv.Atoi(f[12])
		total += float64(user+system) / 100
	}
	return total
}

// selfCPUSeconds is this process's CPU time (user + system), from /proc/self/stat.
func selfCPUSeconds() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	end := strings.LastIndexByte(s, ')')
	if end < 0 || end+2 > len(s) {
		return 0
	}
	f := strings.Fields(s[end+2:])
	if len(f) < 13 {
		return 0
	}
	user, _ := strconv.Atoi(f[11])
	system, _ := strconv.Atoi(f[12])
	return float64(user+system) / 100
}

// spread prints min–max, or one figure when they are equal.
func spread(lo, hi float64, format string) string {
	if fmt.Sprintf(format, lo) == fmt.Sprintf(format, hi) {
		return fmt.Sprintf(format, lo)
	}
	return fmt.Sprintf(format+"–"+format, lo, hi)
}

// fleetMarkdown is BENCHMARKS.md's fleet section.
func fleetMarkdown(r *Results) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## 7. Fleet\n\n")
	if len(r.Fleet) == 0 {
		w("No fleet run in this benchmark (`--fleet none`).\n\n")
	}
	groups := groupFleet(r.Fleet)
	var throttled []FleetGroup
	for _, g := range groups {
		if g.IAMRate != nil {
			throttled = append(throttled, g)
		}
	}
	if len(r.Fleet) > 0 {
		w("The fleet machine (`%s`: a Distributed Map whose items each start the rotation machine and hold their slot until the user's new key is verified — statemachine/README.md, \"A slot until the cut-over\"; earlier rows, before that change, held it through `startExecution.sync:2` to the rotation's end) rotates N managed users, each with one key, grace and inactive 0 unless a row says otherwise, in the local engine: moto, the fault proxy, the real bootstraps under lambdahost, sfnlocal. *seconds* runs from StartExecution of the fleet until every rotation it started has ended (every new key verified and every old key retired); *verified* is when the proxy saw the last new key verified (the last successful sts:GetCallerIdentity signed by a key that a parameter holds at the end). After each run every user is checked: at most 2 keys, exactly one active, held by the user's parameter and verified with STS during the run, no lock left; a user that fails any of these is a *violation*; it is *unsafe* if it has a lock left, more than 2 keys, not exactly one active key, or a parameter holding another key than the active one (a user whose first rotation failed and rolled back keeps its one key and has no parameter yet: a violation, not unsafe). *failed* counts failed, skipped and missing rotations in the fleet's summary. Each row is one run; rows of the same size and rate ran in one local engine and rotate the same users again. The proxy pages IAM ListUsers as AWS does (100 users a call and a Marker; moto answers every user at once, which put a whole fleet's listing, 5,000 ListUserTags, into one Lambda call). The fleet runs may be measured apart from the rest of this file (`keyrotor-bench --fleet-only`, merged with `--fleet-from`): each row has its own date, each group its commit.\n\n",
			fleetDefinition)
	}
	if len(throttled) > 0 {
		g := throttled[0]
		w("**IAM's rate.** The fault proxy holds IAM to a fixed rate with a token bucket (`localaws/faultproxy/ratelimit.go`): %g calls per second, a bucket of %d calls (one second of the rate). A call that finds the bucket empty does not reach moto; it is answered as AWS answers throttling, HTTP 400 `Throttling` \"Rate exceeded\" — the answer AWS's knowledge-center article on IAM and STS throttling quotes (\"Throttling: Rate exceeded, status code: 400\", https://repost.aws/knowledge-center/iam-sts-throttling-error) — which the Go SDK's retryer classes as throttling (`Throttling` is in `retry.DefaultThrottleErrorCodes`) and backs off from; once the SDK's attempts are spent the step fails `Throttled` and the state machine's Retry backs off again. The rate is a choice, not AWS's figure: AWS publishes no request rate for IAM. Its quotas page (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html) gives object quotas (5,000 users per account, 2 access keys per user) and no calls per second, and the knowledge-center article says only that calls from the console, the CLI and applications all count against one maximum rate per account, that it cannot be increased, and that callers should back off exponentially. %g calls/s was chosen below what this engine sustains unthrottled (%s), so that IAM's rate and not the machine sets the pace — which is what comparing with the floor tests — and so that a fleet of 5,000 users ends in about half an hour on this 2-core machine. Every figure scales with the rate through the floor. Throttled fleets run at maxConcurrency %d: enough rotations to keep IAM's bucket drained, few enough that a step rarely spends all its attempts (while choosing it, a 200-user fleet at maxConcurrency 50 and 20 calls/s lost 112 rotations to `Throttled`; and before the listing's IAM reads got more attempts, `internal/lambdamain`, the same fleet failed in its listing before any rotation started).\n\n",
			*g.IAMRate, g.Runs[0].IAMBurst, *g.IAMRate, unthrottledRate(groups), g.Runs[0].Concurrency)
		w("**The floor** is the least time IAM's rate allows for the IAM calls of the run: (IAM calls that reached moto − the bucket's burst) ÷ rate, that is IAM calls per rotation × users ÷ rate, with the calls counted by the proxy in that run (the listing's ListUsers and ListUserTags included), not assumed. Throttled, a rotation makes more IAM calls than unthrottled: a step that runs out of attempts is retried whole by the state machine and reads again what it had read. *÷ unthrottled floor* divides by the floor those runs' calls per rotation would set instead (%s), the stricter comparison. Goal: within %.2f× of the floor, 0 failed rotations, 0 violations.\n\n", unthrottledCallsText(r.Fleet), FleetGoalRatio)
	}
	if len(r.Fleet) > 0 {
		w("| users | IAM rate (calls/s) | round | seconds | floor (s) | ÷ floor | ÷ unthrottled floor | verified (s) | IAM calls / rotation | throttled calls | failed | violations | parent history events | largest state (bytes) | moto CPU share | load (1-min, start → end) | date |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
		rounds := fleetRounds(r.Fleet)
		for i, run := range r.Fleet {
			perRotation, haveUnthrottled := unthrottledCallsPerRotation(r.Fleet, rounds, rounds[i])
			rate, floor, ratio, strict := "unthrottled", "—", "—", "—"
			if run.IAMRate != nil {
				rate = fmt.Sprintf("%g", *run.IAMRate)
				floor = fmt.Sprintf("%.1f", *run.FloorS)
				ratio = fmt.Sprintf("%.3f×", *run.Ratio)
				if haveUnthrottled {
					strict = fmt.Sprintf("%.3f×", run.Seconds/(perRotation*float64(run.Users) / *run.IAMRate))
				}
			}
			w("| %s | %s | %d | %.1f | %s | %s | %s | %.1f | %.2f | %s | %d | %s | %d | %s | %.0f%% | %.2f → %.2f | %s |\n",
				commas(int64(run.Users)), rate, rounds[i], run.Seconds, floor, ratio, strict, run.VerifiedS, run.IAMCallsPerRotation, commas(int64(run.IAMThrottled)),
				run.Failed, violationsText(run), run.Events, commas(int64(run.MaxState)), run.MotoShare*100, run.LoadStart, run.LoadEnd, run.Date)
		}
		w("\n")
		for _, g := range groups {
			what := "unthrottled"
			if g.IAMRate != nil {
				what = fmt.Sprintf("IAM at %g calls/s", *g.IAMRate)
			}
			line := fmt.Sprintf("- %s users, %s, maxConcurrency %d, commit %s: %s: %s s", commas(int64(g.Users)), what, g.Runs[0].Concurrency, orDash(g.Runs[0].Commit),
				plural(len(g.Runs), "run"), spread(g.MinS, g.MaxS, "%.1f"))
			if g.IAMRate != nil {
				line += fmt.Sprintf(", %s× the floor", spread(g.MinRatio, g.MaxRatio, "%.3f"))
			} else {
				line += fmt.Sprintf(" (%s rotations/s)", spread(float64(g.Users)/g.MaxS, float64(g.Users)/g.MinS, "%.1f"))
			}
			line += fmt.Sprintf("; %d failed, %d violations; moto %s%% of the machine's CPU; load %s", g.Failed, g.Violations,
				spread(g.MinShare*100, g.MaxShare*100, "%.0f"), spread(g.MinLoad, g.MaxLoad, "%.2f"))
			if len(g.Runs) == 1 {
				line += "; **one run only: no spread measured**"
			}
			w("%s\n", line)
		}
		w("\n")
		for i, run := range r.Fleet {
			for _, k := range run.FailedBy {
				w("- failed in the %s-user run %s (round %d): %d × %s, e.g. %s\n", commas(int64(run.Users)), rateName(run.IAMRate), rounds[i], k.Count, k.Error, oneLine(k.Cause))
			}
		}
		if throttledCreateKey(r.Fleet) {
			w("\n**Why rotations failed under throttling.** CreateKey calls iam:CreateAccessKey without SDK retries, on purpose (`internal/rotation/create.go`: a retried call whose first answer was lost would make a second key), so a throttled CreateAccessKey gets only the state machine's tries: CreateKey's Retry on `Throttled` (`statemachine/rotate.asl.json`, MaxAttempts 6, 1 s doubling to at most 20 s, full jitter), 7 in all. With IAM's bucket kept empty by the other rotations, about one CreateAccessKey in a hundred lost all 7; the rotation then failed `Throttled` with no new key, released its lock and left the user its one key (%s). The other calls of a rotation get the SDK's 3 attempts inside each of the state machine's 7. Fewer rotations at once (maxConcurrency) throttle less but leave IAM's rate unused. Since then CreateKey's Retry on `Throttled` allows 12 retries (13 tries), and within each try CreateKey sends CreateAccessKey up to 6 times while IAM answers throttling (`createRetryer` in internal/rotation/create.go: the SDK's standard backoff, no retry quota): a throttling answer says the request \"was denied due to request throttling\" (ThrottlingException in the errors common to all AWS APIs, https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html), so no key was made and sending it again cannot make a second one; any other failure, a lost answer above all, is still left to the state machine's retry of the step, which deletes a key made after the recorded intent. internal/rotation TestCreateRetriesOnlyThrottledCreateAccessKeyItself shows 3 and 5 throttles absorbed in one step with one key made, and 6 failing `Throttled` with none.\n", unsafeText(r.Fleet))
		}
		w("\n")
		w("Where the CPU went (CPU seconds during each run; the machine has %d cores, shared with other work — the load averages above): ", r.Fleet[0].Cores)
		var parts []string
		for _, run := range r.Fleet {
			parts = append(parts, fmt.Sprintf("%s users %s: moto %.0f s, Lambda bootstraps %.0f s, sfnlocal + lambdahost + proxy %.0f s over %.0f s",
				commas(int64(run.Users)), rateName(run.IAMRate), run.MotoCPUS, run.BootstrapCPUS, run.HarnessCPUS, run.Seconds))
		}
		w("%s. moto's share is its CPU seconds over wall seconds × cores: unthrottled, the figure measures moto (a single-threaded Python server) and this machine as much as keyrotor; throttled, it measures IAM's rate.\n\n", strings.Join(parts, "; "))
	}
	if len(r.Fleet) > 0 {
		w("%s", awsClockMarkdown(r.Fleet))
	}
	w("Rerun one line of the plan, keeping every other figure: `go run ./internal/harness/bench/cmd/keyrotor-bench --fleet-only --fleet-append --fleet 5000@40` ([ACCOUNTS*]USERS[@IAM_RATE][xREPEATS][:aws]; `--fleet-concurrency`, `--fleet-burst`); `make bench` runs the whole plan (%s) after the other benchmarks, about an hour on this machine.\n\n", DefaultFleetPlan)
	w("%s", bigRunsMarkdown)
	if bb := r.FleetBudget; bb.Users > 0 {
		measured := "no fleet was run"
		if len(r.Fleet) > 0 {
			measured = fmt.Sprintf("the parent's history had %s events (about 7 per listing page of 100 users — a run whose listing was one call, before the proxy paged ListUsers, had 20 — plus the Map's own, whatever the number of rotations), and its largest state was %s bytes (the summary: it lists failed users with a one-line cause, so it grows with the failures, not with the fleet)", eventsSpread(r.Fleet), stateSpread(r.Fleet))
		}
		w("**Quota budget at %s users** (`%s`, worst case as internal/harness/aslrules models it — what `scripts/lint-asl.sh` prints): %s events in the parent's history (quota %s) and %s bytes of fleet-sized state (quota %s bytes: no state of the parent grows with the fleet; the users travel in S3, the report goes to S3). Measured in the runs above: %s.\n\n",
			commas(int64(bb.Users)), bb.Definition, commas(int64(bb.HistoryEvents)), commas(int64(bb.HistoryQuota)), commas(int64(bb.StateBytes)), commas(int64(bb.StateQuotaBytes)),
			measured)
	}
	return b.String()
}

// fleetRounds is each run's Round, or for runs recorded without one its place among the runs
// of the same size and rate before it (each plan line runs in an engine of its own).
func fleetRounds(runs []FleetRun) []int {
	out := make([]int, len(runs))
	seen := map[string]int{}
	for i, r := range runs {
		key := fmt.Sprintf("%d/%s/%s", r.Users, rateName(r.IAMRate), r.Commit)
		seen[key]++
		out[i] = r.Round
		if out[i] == 0 {
			out[i] = seen[key]
		}
	}
	return out
}

// unthrottledCallsPerRotation is the IAM calls per rotation of the unthrottled runs of the
// same round (their calls over their users): a first rotation of users with one unheld key
// makes fewer calls than a second, which retires the key the first stored.
func unthrottledCallsPerRotation(runs []FleetRun, rounds []int, round int) (float64, bool) {
	calls, users := 0, 0
	for i, r := range runs {
		if r.IAMRate == nil && r.IAMCalls > 0 && rounds[i] == round {
			calls, users = calls+r.IAMCalls, users+r.Users
		}
	}
	if users == 0 {
		return 0, false
	}
	return float64(calls) / float64(users), true
}

func unthrottledCallsText(runs []FleetRun) string {
	rounds := fleetRounds(runs)
	var parts []string
	for round := 1; round <= slices.Max(append(rounds, 0)); round++ {
		if v, ok := unthrottledCallsPerRotation(runs, rounds, round); ok {
			parts = append(parts, fmt.Sprintf("%.2f IAM calls per rotation in a round-%d run", v, round))
		}
	}
	if len(parts) == 0 {
		return "no unthrottled run in these results, so the column is empty"
	}
	return strings.Join(parts, ", ") + ", compared round for round: a first rotation of users whose one key no parameter holds makes fewer calls than a second, which retires the key the first stored"
}

// unsafeText says how many users the runs that counted it found unsafe.
func unsafeText(runs []FleetRun) string {
	counted, unsafe, violations := 0, 0, 0
	for _, r := range runs {
		if r.UnsafeViolations != nil {
			counted++
			unsafe += *r.UnsafeViolations
			violations += r.Violated
		}
	}
	if counted == 0 {
		return "whether each such user was left safe was not counted in these runs"
	}
	return fmt.Sprintf("in the %s that counted it, %d of %d violations were unsafe", plural(counted, "run"), unsafe, violations)
}

// throttledCreateKey reports whether a run lost rotations to a throttled CreateAccessKey.
func throttledCreateKey(runs []FleetRun) bool {
	for _, r := range runs {
		for _, k := range r.FailedBy {
			if k.Error == rotation.Throttled && strings.Contains(k.Cause, "CreateAccessKey") {
				return true
			}
		}
	}
	return false
}

// violationsText is a run's violations, with how many were unsafe when that was counted.
func violationsText(r FleetRun) string {
	if r.UnsafeViolations == nil {
		return strconv.Itoa(r.Violated)
	}
	return fmt.Sprintf("%d (%d unsafe)", r.Violated, *r.UnsafeViolations)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return "“" + s + "”"
}

func rateName(rate *float64) string {
	if rate == nil {
		return "unthrottled"
	}
	return fmt.Sprintf("at %g IAM calls/s", *rate)
}

// unthrottledRate describes the IAM call rate the unthrottled runs reached.
func unthrottledRate(groups []FleetGroup) string {
	for _, g := range groups {
		if g.IAMRate != nil {
			continue
		}
		lo, hi := 0.0, 0.0
		for i, r := range g.Runs {
			v := float64(r.IAMCalls) / r.Seconds
			if i == 0 {
				lo, hi = v, v
			}
			lo, hi = min(lo, v), max(hi, v)
		}
		return fmt.Sprintf("%s users unthrottled made %s IAM calls/s", commas(int64(g.Users)), spread(lo, hi, "%.1f"))
	}
	return "no unthrottled run in these results"
}

func eventsSpread(runs []FleetRun) string {
	lo, hi := runs[0].Events, runs[0].Events
	for _, r := range runs {
		lo, hi = min(lo, r.Events), max(hi, r.Events)
	}
	return commasSpread(lo, hi)
}

func commasSpread(lo, hi int) string {
	if lo == hi {
		return commas(int64(lo))
	}
	return commas(int64(lo)) + "–" + commas(int64(hi))
}

func stateSpread(runs []FleetRun) string {
	lo, hi := runs[0].MaxState, runs[0].MaxState
	for _, r := range runs {
		lo, hi = min(lo, r.MaxState), max(hi, r.MaxState)
	}
	return commasSpread(lo, hi)
}

// waitRotationsEnd waits until no rotation runs in env (the benchmark's engine is its own).
func waitRotationsEnd(ctx context.Context, env *localenv.Env) error {
	for {
		runs, err := env.StepFunctions.ListExecutions(ctx, env.StateMachineARN, sfnlocal.StatusRunning)
		if err != nil {
			return fmt.Errorf("list running rotations: %w", err)
		}
		if len(runs) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d rotations still running: %w", len(runs), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// bigRunsMarkdown says how to reproduce the full-scale runs, which a shared 2-core
// machine does not publish.
const bigRunsMarkdown = "**The full-scale runs** (not measured on this shared machine; each needs it to itself for an hour or more): " +
	"5,000 users twice at 40 IAM calls/s with the retrier, `--fleet-only --fleet-append --fleet 5000@40x2`; " +
	"the same on AWS's clock with the default waits and maxConcurrency, `--fleet 5000@40:aws` (goal ≤ 1.10 × (floor + 3,600 s + 86,400 s)); " +
	"an organization, 10 member accounts × 500 users at 40 calls/s per account, `--fleet 10*500@40` (goal ≤ 1.25 × one account's 500-user floor; add `:aws` for AWS's clock). " +
	"Each writes its rows to results.json with `accounts`, `aws_clock_seconds`, `grace_seconds`, `inactive_seconds`, parent history events and largest state.\n\n"

// iamCallPurpose is what each IAM call of a rotation (or of the fleet's listing) checks or does,
// read from internal/rotation.
var iamCallPurpose = map[string]string{
	"ListUsers":            "the fleet's listing: one page of 100 users",
	"ListUserTags":         "the opt-in tag keyrotor:managed=true (and the parameter/format tags): once in the listing, then before each step that changes keys — Begin, DeactivateOldKeys, DeleteOldKeys, and CreateKey when it is retried or runs more than 10 s after Begin took the lock — since a user may be untagged during the 25 h of waits",
	"GetUser":              "Begin: the user's IAM id, recorded so that every later decision is by account + id, not by a name that may be reused; CreateKey compares it again when it is retried or runs more than 10 s after Begin",
	"ListAccessKeys":       "the keys the user has: Begin (recorded in the lock), CreateKey when retried, when the user had 2 keys (IAM's quota: an inactive unheld key to delete first, or TooManyActiveKeys) or more than 10 s after Begin, DeactivateOldKeys and DeleteOldKeys (only recorded old keys are touched)",
	"CreateAccessKey":      "the new key",
	"GetAccessKeyLastUsed": "DeactivateOldKeys: the old key's last use, to extend the grace while it is still used",
	"UpdateAccessKey":      "DeactivateOldKeys: the old key made Inactive",
	"DeleteAccessKey":      "DeleteOldKeys (the recorded old key after inactiveSeconds) and CreateKey (an inactive unheld key, when the user has 2)",
}

// awsClockMarkdown shows the runs on AWS's clock or over member accounts, and the IAM calls
// per rotation by API with what each buys.
func awsClockMarkdown(runs []FleetRun) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	var special []FleetRun
	for _, r := range runs {
		if r.AWSClockSeconds != nil || r.Accounts > 0 {
			special = append(special, r)
		}
	}
	if len(special) > 0 {
		w("**On AWS's clock and over member accounts.** A `:aws` run's engine runs on sfnlocal's virtual clock with the rotations' default waits (graceSeconds 3,600, inactiveSeconds 86,400): the clock stands still while anything works and jumps when everything waits, so *AWS-clock s* is the run's wall time (the work: the Lambdas, IAM's rate) plus the virtual time its waits skipped; its floor adds grace + inactive (no rotation can end sooner), goal ≤ %.2f×. Over member accounts the fault proxy keeps one IAM bucket per account (`localaws/faultproxy/ratelimit.go`), the listing interleaves the accounts (the Map takes items in order), maxConcurrency 10 per account unless the run set it (the column), and the floor is the largest one account's, goal ≤ %.2f×. *fleet s* is when the fleet execution ended: its last child's cut-over.\n\n", FleetAWSClockGoalRatio, FleetGoalRatio)
		w("| users | accounts | IAM rate (calls/s, per account) | grace + inactive (s) | maxConcurrency | fleet s (wall) | seconds (wall) | AWS-clock s | floor (s) | ÷ floor | IAM calls / rotation | failed | violations | parent history events | largest state (bytes) | load (start → end) | date |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, r := range special {
			aws, floor, ratio := "—", "—", "—"
			if r.AWSClockSeconds != nil {
				aws = fmt.Sprintf("%.1f", *r.AWSClockSeconds)
			}
			if r.FloorS != nil {
				floor, ratio = fmt.Sprintf("%.1f", *r.FloorS), fmt.Sprintf("%.4f×", *r.Ratio)
			}
			w("| %s | %d | %s | %d + %d | %d | %.1f | %.1f | %s | %s | %s | %.2f | %d | %s | %d | %s | %.2f → %.2f | %s |\n", commas(int64(r.Users)), r.Accounts, rateName(r.IAMRate),
				r.GraceSeconds, r.InactiveSeconds, r.Concurrency, r.FleetSeconds, r.Seconds, aws, floor, ratio, r.IAMCallsPerRotation, r.Failed, violationsText(r), r.Events, commas(int64(r.MaxState)), r.LoadStart, r.LoadEnd, r.Date)
		}
		w("\n")
		for _, r := range special {
			if r.AWSClockSeconds != nil && r.FloorS != nil {
				waits := float64(r.GraceSeconds + r.InactiveSeconds)
				w("- %s users on AWS's clock: the waits are %.0f s of %.0f s; the work alone took %.1f s against its IAM floor of %.1f s (%.2f×), the fleet itself %.1f s.\n",
					commas(int64(r.Users)), waits, *r.AWSClockSeconds, *r.AWSClockSeconds-waits, *r.FloorS-waits, (*r.AWSClockSeconds-waits)/(*r.FloorS-waits), r.FleetSeconds)
			}
			if len(r.AccountPace) > 0 {
				var ends, calls, throttled []string
				for _, a := range r.AccountPace {
					ends = append(ends, fmt.Sprintf("%.1f", a.IAMEndSeconds))
					calls = append(calls, commas(int64(a.IAMCalls)))
					throttled = append(throttled, commas(int64(a.IAMThrottled)))
				}
				w("- %s users over %d accounts, %s, round %d (%s): each account's last IAM call at %s s of %.1f s; IAM calls %s, throttled %s, by account.\n",
					commas(int64(r.Users)), r.Accounts, rateName(r.IAMRate), r.Round, r.Date, strings.Join(ends, " / "), r.Seconds, strings.Join(calls, " / "), strings.Join(throttled, " / "))
			}
		}
		w("\n")
		w("%s", orgFindingsMarkdown)
	}
	var last *FleetRun
	for i := range runs {
		if len(runs[i].IAMCallsByAction) > 0 {
			last = &runs[i]
		}
	}
	if last != nil {
		w("**IAM calls per rotation by API** (the proxy's record of the last run that kept it: %s users %s, round %d; the listing's calls spread over the users):\n\n| API | calls / rotation | what it buys |\n| --- | --- | --- |\n", commas(int64(last.Users)), rateName(last.IAMRate), last.Round)
		for _, a := range slices.Sorted(maps.Keys(last.IAMCallsByAction)) {
			w("| %s | %.2f | %s |\n", a, last.IAMCallsByAction[a], iamCallPurpose[a])
		}
		w("\nThe fleet's floor is IAM calls × users ÷ rate, so each call cut is fleet time saved. Cut: CreateKey's ListUserTags, GetUser and ListAccessKeys repeated Begin's a few seconds earlier in the same execution, under the lock Begin took — 3 of the 13–15 calls. CreateKey now takes them from the record when it is the step's first try (no intent recorded, so no key of its own can exist; nothing adopted or abandoned) and Begin took the lock at most 10 s before — the keys only if the user had fewer than 2 (making room deletes a key, and that needs a fresh list) (`beginReadsStand`, internal/rotation/create.go; IAM is eventually consistent — \"changes ... are not always immediately visible\", https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency — so a read seconds later promised no more); otherwise it reads all three again (internal/rotation TestCreateRereadsTheUserUnlessBeginJustDid: an opt-out between Begin and a later CreateKey still stops it, `UserNotManaged`). A key added meanwhile by someone else makes CreateAccessKey fail `LimitExceeded` (`TooManyActiveKeys`) or is not among the keys retired. Rows before that change count the calls it cut; with it, 30 users unthrottled made 11.03 IAM calls a rotation in round 1 (14.03 before, commit de5ba39) and 16.03 in round 2 (one run each, 2026-12-07T08:10:58Z, load 11.8–16.8; not in the tables, where 30 users would replace the 1,000-user runs as the unthrottled reference), whose users have 2 keys (round 1 kept their unrecorded key inactive) — measured before CreateKey also kept Begin's tag and user id when it makes room, which saves 2 more there (the last pair at 10 calls/s: 19.59 calls a rotation in round 2, against 21.00–22.09 before). The tag checks before DeactivateOldKeys and DeleteOldKeys, 25 h later, and their key lists are what keep a user untagged or a key added meanwhile out of reach, and stay.\n\n")
	}
	return b.String()
}

// orgFindingsMarkdown is what the runs over member accounts of 2026-12-07 showed (commits
// de5ba39 and after; the rows and bullets above hold each run's figures).
const orgFindingsMarkdown = "**Why an organization ran slower than one account's floor** (measured 2026-12-07 on the shared 2-core machine, 1-min load 8.8–29.1; each figure one run, rounds 1 and 2 of the same users). " +
	"*At 40 calls/s per account the machine, not IAM, set the pace:* the 3-account runs were throttled 0 times in all (90 users) and 6 and 16 times (180 users); 90 users made 1,263 and 1,443 IAM calls in 48.9 and 33.1 s (load 20.7–29.1), 26 and 44 calls/s for the three accounts together, against the 120 calls/s their three buckets allowed — more than this engine serves even alone and unthrottled (63.6–78.2 IAM calls/s at 1,000 users, one moto for every account). " +
	"Their 3.0–8.8× measures the machine's load, not the pacing. " +
	"*At 10 calls/s per account (30 together, within the machine) the accounts ran side by side, each at its own bucket:* one account of 30 users at maxConcurrency 10 took 45.8 and 68.0 s (1.03× and 1.11× its floor); three accounts of 30 users at maxConcurrency 30 took 53.4–77.5 s (round 1) and 69.8–82.8 s (round 2) over four pairs of runs — three times the work in 1.17–1.69× and 1.03–1.22× one account's time — and in the two pairs that recorded it each account's last IAM call came within 1.6–10.8 s of the others' (the bullets above, `account_pace` in results.json). " +
	"So the listing's interleaving, the Map's slots, sfnlocal's scheduling and the Lambda host's instances (60 per function) did not hold the accounts back, and the per-account buckets of `localaws/faultproxy/ratelimit.go` paced each by its own rate; nothing in them was changed. " +
	"*What is left above the floor (1.15–1.98×) is throttling's cost at small sizes, and one unsafe user:* each account's IAM sat unused a quarter to a half of the run (370–437 calls in 58–77 s at 10 calls/s, round 1), at the head (the listing ends before the Map starts) and the tail (the last rotations' steps wait out the state machine's backoff, up to 20 s), which a 30-user fleet cannot amortize; and calls are wasted: a step whose SDK attempts (3) are spent fails `Throttled` and the state machine retries it whole, reading again what it had read — round 2 made 22.1 IAM calls a rotation (GetUser 3.07 where Begin and CreateKey need 2, ListUserTags 8.42 where 5 do), so the floor itself grew. In 5 of the 10 runs at 10 calls/s one user was left unsafe, each the same way (its lock left and both keys active, the parameter holding the verified new key); in the two runs that recorded the cause its rotation had failed `Throttled` at ListAccessKeys or ListUserTags while retiring, after the cut-over, so the fleet's summary (which counts until the cut-over) said 0 failed; `rotations_failed` now counts such rotations. Retiring is not this change's either (internal/rotation/retire.go); the next rotation of that user finishes it. " +
	"The rotation steps' IAM client (`internal/rotation` NewSteps, `internal/lambdamain`) is not this change's: giving their idempotent reads the listing's retryer (many attempts, no retry quota) would stop those repeats. " +
	"The goal's run, 10 accounts × 500 users at 40 calls/s each, needs 400 IAM calls/s from one moto: it cannot be measured on this machine.\n\n"
