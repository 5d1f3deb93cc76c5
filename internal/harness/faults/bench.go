// Package faults drives keyrotor's rotation end to end through the local engine (internal/
// localenv: moto with IAM authorization, the fault proxy, the real Lambda bootstraps, the Step
// Functions API running statemachine/rotate.asl.json) and checks internal/harness/invariants after
// each run: the fault matrix, the least-privilege denials, concurrency, bad input and
// parameter safety.
package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keyrotor/keyrotor/internal/harness/invariants"
	"github.com/keyrotor/keyrotor/internal/harness/testenv"
	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/lambdahost"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// Bench is one local engine shared by many rotations; each rotation gets a fresh user, so the
// engine is never reset.
type Bench struct {
	Env     *localenv.Env
	Checker *invariants.Checker
	// Root is the repository root.
	Root string

	iam *iam.Client // administrator, straight to moto (never through the fault proxy)
	ssm *ssm.Client
	sts *sts.Client
	seq atomic.Int64
	// sessions is the AssumeRole session each function signs with (FunctionOf).
	sessions *testenv.Sessions

	// FunctionTimeout is the step functions' timeout as deployed.
	FunctionTimeout time.Duration
	// Clock is the engine's virtual clock (also the proxy's clock of IAM's propagation windows).
	Clock *sfnlocal.VirtualClock
}

// Options configure a Bench.
type Options struct {
	// FunctionTimeout of every step function (0: 20 s, generous for 50 rotations on 2 cores).
	FunctionTimeout time.Duration
	// Accounts is how many member accounts the engine gets (localenv.Options.Accounts).
	Accounts int
}

// NewBench starts a local engine on a virtual clock: Wait states and retry backoffs take no time.
func NewBench(ctx context.Context, opts Options) (*Bench, error) {
	if opts.FunctionTimeout <= 0 {
		opts.FunctionTimeout = 20 * time.Second
	}
	sessions := &testenv.Sessions{}
	clock := sfnlocal.NewVirtualClock(time.Now())
	lopts := localenv.Options{
		Clock:           clock,
		FunctionTimeout: opts.FunctionTimeout,
		Accounts:        opts.Accounts,
		OnCredentials:   sessions.Record,
	}
	env, err := localenv.Up(ctx, lopts)
	if errors.Is(err, localenv.ErrNotBuilt) {
		lopts.Build = true
		env, err = localenv.Up(ctx, lopts)
	}
	if err != nil {
		return nil, err
	}
	admin := env.Moto.AdminConfig()
	b := &Bench{
		Env: env, Root: env.Engine.Root, FunctionTimeout: opts.FunctionTimeout, sessions: sessions, Clock: clock,
		iam: iam.NewFromConfig(admin), ssm: ssm.NewFromConfig(admin), sts: sts.NewFromConfig(admin),
	}
	b.Checker = &invariants.Checker{
		Admin: admin,
		ConfigFor: func(id, secret string) aws.Config {
			return motoserver.Config(env.Moto.Endpoint, aws.Credentials{AccessKeyID: id, SecretAccessKey: secret})
		},
		UserARN: func(user string) string { return env.Engine.UserARN(user) },
		AccountAdmin: func(account string) aws.Config {
			if m := env.Member(account); m != nil {
				return motoserver.Config(env.Moto.Endpoint, m.Admin)
			}
			return admin
		},
	}
	return b, nil
}

// Close stops the engine.
func (b *Bench) Close() error { return b.Env.Close() }

// Seed describes a user to create for one rotation.
type Seed struct {
	// Unmanaged leaves out the keyrotor:managed=true tag.
	Unmanaged bool
	// NoKey creates no old key (and no parameter).
	NoKey bool
	// NoParameter creates the old key but does not store it.
	NoParameter bool
	// InactiveKey adds a second, inactive key the parameter does not hold.
	InactiveKey bool
	// Account is the member account to create the user in ("": the engine's own).
	Account string
}

// NewTarget creates a fresh user named <prefix>-<n> with an old key stored in
// /keyrotor/<user> the way a previous rotation leaves it.
func (b *Bench) NewTarget(ctx context.Context, prefix string, s Seed) (invariants.Target, error) {
	user := fmt.Sprintf("%s-%d", prefix, b.seq.Add(1))
	t := invariants.Target{UserName: user, ParameterName: b.Env.ParameterPrefix + user, Format: "json", AccountID: s.Account}
	if s.Account != "" {
		return t, b.newMemberTarget(ctx, t, s)
	}
	in := &iam.CreateUserInput{UserName: aws.String(user)}
	if !s.Unmanaged {
		in.Tags = []iamtypes.Tag{{Key: aws.String(rotation.ManagedTagKey), Value: aws.String(rotation.ManagedTagValue)}}
	}
	// The name is this bench's own, a fresh sequence number (motoserver.CreateOnce).
	if _, err := motoserver.CreateOnce(func(opt func(*iam.Options)) error {
		_, err := b.iam.CreateUser(ctx, in, opt)
		return err
	}); err != nil {
		return t, fmt.Errorf("create user %s: %w", user, err)
	}
	if s.NoKey {
		return t, nil
	}
	if s.InactiveKey {
		k, err := b.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
		if err != nil {
			return t, fmt.Errorf("create inactive key of %s: %w", user, err)
		}
		if _, err := b.iam.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(user),
			AccessKeyId: k.AccessKey.AccessKeyId, Status: iamtypes.StatusTypeInactive}); err != nil {
			return t, fmt.Errorf("deactivate key of %s: %w", user, err)
		}
	}
	k, err := b.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		return t, fmt.Errorf("create old key of %s: %w", user, err)
	}
	if s.NoParameter {
		return t, nil
	}
	return t, b.StoreKey(ctx, t.ParameterName, aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey))
}

// StoreKey writes a key to a parameter as keyrotor's StoreParameter does.
func (b *Bench) StoreKey(ctx context.Context, parameter, id, secret string) error {
	value, _ := json.Marshal(map[string]string{"AccessKeyId": id, "SecretAccessKey": secret})
	_, err := b.ssm.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(parameter), Value: aws.String(string(value)), Type: ssmtypes.ParameterTypeSecureString,
		KeyId: aws.String(b.Env.KMSKeyARN), Overwrite: aws.Bool(true), Description: aws.String(rotation.DescriptionPrefix + id),
	})
	if err != nil {
		return fmt.Errorf("store key in %s: %w", parameter, err)
	}
	return nil
}

// Run is one finished execution and everything it wrote.
type Run struct {
	invariants.Outcome
	History []sfnlocal.HistoryEvent
	Logs    []lambdahost.LogLine
	Output  json.RawMessage
}

// StatePath is the names of the states the execution entered, in order.
func (r Run) StatePath() []string {
	var path []string
	for _, ev := range r.History {
		if strings.HasSuffix(ev.Type, "StateEntered") {
			b, _ := json.Marshal(ev)
			var d struct {
				StateEnteredEventDetails struct{ Name string } `json:"stateEnteredEventDetails"`
			}
			_ = json.Unmarshal(b, &d)
			path = append(path, d.StateEnteredEventDetails.Name)
		}
	}
	return path
}

// Start starts an execution of machine (the rotation machine when empty) with input.
func (b *Bench) Start(ctx context.Context, machine, input string) (string, error) {
	if machine == "" {
		machine = b.Env.StateMachineARN
	}
	return b.Env.StepFunctions.StartExecution(ctx, machine, "", input)
}

// Wait waits for an execution and collects its history and the logs written meanwhile.
func (b *Bench) Wait(ctx context.Context, arn string, logsFrom int) (Run, error) {
	x, err := b.Env.StepFunctions.Wait(ctx, arn)
	if err != nil {
		return Run{}, err
	}
	hist, err := b.Env.StepFunctions.History(ctx, arn)
	if err != nil {
		return Run{}, err
	}
	r := Run{History: hist, Output: x.Output}
	r.ExecutionArn, r.Status, r.Error, r.Cause = arn, x.Status, x.Error, x.Cause
	r.Running = b.Running
	for _, ev := range hist {
		j, err := json.Marshal(ev)
		if err != nil {
			return r, fmt.Errorf("marshal history event %d: %w", ev.ID, err)
		}
		r.Texts = append(r.Texts, string(j))
	}
	r.Texts = append(r.Texts, string(x.Output))
	if logs := b.Env.Logs(); logsFrom <= len(logs) {
		r.Logs = logs[logsFrom:]
	}
	for _, l := range r.Logs {
		r.Texts = append(r.Texts, l.Text)
	}
	for _, c := range b.Env.Proxy.Calls() {
		j, _ := json.Marshal(c)
		r.Texts = append(r.Texts, string(j))
	}
	return r, nil
}

// Rotate runs one execution of machine to its end.
func (b *Bench) Rotate(ctx context.Context, machine, input string) (Run, error) {
	from := len(b.Env.Logs())
	arn, err := b.Start(ctx, machine, input)
	if err != nil {
		return Run{}, err
	}
	return b.Wait(ctx, arn, from)
}

// Running reports whether an execution is RUNNING (executions of other engines count as ended).
func (b *Bench) Running(arn string) bool {
	x, err := b.Env.StepFunctions.DescribeExecution(context.Background(), arn)
	return err == nil && x.Status == "RUNNING"
}

// Input is the execution input of a rotation of t with zero waits.
func Input(t invariants.Target) string {
	in := map[string]any{"userName": t.UserName, "parameterName": t.ParameterName, "graceSeconds": 0, "inactiveSeconds": 0}
	if t.AccountID != "" {
		in["accountId"] = t.AccountID
	}
	b, _ := json.Marshal(in)
	return string(b)
}

// newMemberTarget creates t's user in its member account (straight to moto, as the member's
// administrator), with one old key stored in its parameter under the member's KMS key.
func (b *Bench) newMemberTarget(ctx context.Context, t invariants.Target, s Seed) error {
	if s.NoKey || s.NoParameter || s.InactiveKey {
		return fmt.Errorf("member target %s: only the default seed is supported", t.UserName)
	}
	m := b.Env.Member(s.Account)
	if m == nil {
		return fmt.Errorf("member target %s: %s is not a member account of the engine", t.UserName, s.Account)
	}
	cfg := motoserver.Config(b.Env.Moto.Endpoint, m.Admin)
	in := &iam.CreateUserInput{UserName: aws.String(t.UserName)}
	if !s.Unmanaged {
		in.Tags = []iamtypes.Tag{{Key: aws.String(rotation.ManagedTagKey), Value: aws.String(rotation.ManagedTagValue)}}
	}
	client := iam.NewFromConfig(cfg)
	// The name is this bench's own, a fresh sequence number (motoserver.CreateOnce).
	if _, err := motoserver.CreateOnce(func(opt func(*iam.Options)) error {
		_, err := client.CreateUser(ctx, in, opt)
		return err
	}); err != nil {
		return fmt.Errorf("create user %s in %s: %w", t.UserName, s.Account, err)
	}
	k, err := client.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(t.UserName)})
	if err != nil {
		return fmt.Errorf("create old key of %s in %s: %w", t.UserName, s.Account, err)
	}
	id := aws.ToString(k.AccessKey.AccessKeyId)
	value, _ := json.Marshal(map[string]string{"AccessKeyId": id, "SecretAccessKey": aws.ToString(k.AccessKey.SecretAccessKey)})
	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(t.ParameterName), Value: aws.String(string(value)), Type: ssmtypes.ParameterTypeSecureString,
		KeyId: aws.String(m.KMSKeyARN), Overwrite: aws.Bool(true), Description: aws.String(rotation.DescriptionPrefix + id),
	}); err != nil {
		return fmt.Errorf("store key of %s in %s: %w", t.UserName, s.Account, err)
	}
	return nil
}

// FunctionOf maps an access key id to the function that signs with it ("" if none).
func (b *Bench) FunctionOf(accessKeyID string) string { return b.sessions.Function(accessKeyID) }

// Kill SIGKILLs every running process of fn's bootstrap that this process started: the
// instance that made the call (and idle ones, which the host replaces on the next invoke).
func (b *Bench) Kill(fn string) int {
	want := localenv.BootstrapPath(b.Root, fn)
	me := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	killed := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || strings.TrimSuffix(exe, " (deleted)") != want || parentOf(pid) != me {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	return killed
}

func parentOf(pid int) int {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// pid (comm) state ppid …; comm may hold spaces, so split after the last ')'.
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}
