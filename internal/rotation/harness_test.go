package rotation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
	"github.com/keyrotor/keyrotor/localaws/logbuffer"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// world is one moto server (with SigV4 and IAM checks on) behind one fault proxy, shared by
// the package's tests, which therefore do not run in parallel.
var world struct {
	moto         *motoserver.Server
	proxy        *faultproxy.Proxy
	cfg          aws.Config // admin, through the proxy
	iam          *iam.Client
	ssm          *ssm.Client
	sfn          *sfn.Client
	kmsKeyID     string
	stateMachine string
}

func TestMain(m *testing.M) {
	code := testutil.RunWithMoto(m, motoserver.Options{Auth: true}, setUpWorld)
	rotation.StopTriggerMotos()
	if world.proxy != nil {
		world.proxy.Close()
	}
	os.Exit(code)
}

// setUpWorld puts the fault proxy in front of moto and creates the engine's stand-ins.
func setUpWorld(ctx context.Context, s *motoserver.Server) error {
	p, err := faultproxy.Start(s.Endpoint)
	if err != nil {
		return err
	}
	world.moto, world.proxy = s, p
	// IAM's case-insensitive user names (localaws/faultproxy/iamnames.go) for the callers the
	// proxy did not see made: moto's administrator.
	p.AddCredentials(s.Admin)
	world.cfg = motoserver.Config(p.URL, s.Admin)
	world.iam, world.ssm, world.sfn = iam.NewFromConfig(world.cfg), ssm.NewFromConfig(world.cfg), sfn.NewFromConfig(world.cfg)
	engine, err := testutil.CreateEngineStandIns(ctx, world.cfg)
	if err != nil {
		return err
	}
	world.kmsKeyID, world.stateMachine = engine.KMSKeyID, engine.StateMachineARN
	return nil
}

// fixture is one managed user with its own Steps and captured logs.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	steps *rotation.Steps
	logs  *logbuffer.Buffer
	user  string
	param string
	// outputs collects every step result and error text, for the secret scan.
	outputs []string
}

var userSeq atomic.Int64

var nonName = regexp.MustCompile(`[^a-zA-Z0-9]+`)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	slug := nonName.ReplaceAllString(t.Name(), "-")
	if len(slug) > 40 {
		slug = slug[len(slug)-40:]
	}
	f := &fixture{t: t, ctx: context.Background(), logs: &logbuffer.Buffer{},
		user: fmt.Sprintf("u%d-%s", userSeq.Add(1), strings.Trim(slug, "-"))}
	f.param = rotation.DefaultParameterPrefix + f.user
	conf := rotation.Config{KMSKeyID: world.kmsKeyID, ParameterPrefix: rotation.DefaultParameterPrefix, PropagationWindow: 2 * time.Minute}
	f.steps = rotation.NewSteps(world.cfg, conf, slog.New(slog.NewJSONHandler(f.logs, nil)))
	return f
}

// createUser creates the user, tagged managed unless tags say otherwise.
func (f *fixture) createUser(tags ...iamtypes.Tag) {
	f.t.Helper()
	if tags == nil {
		tags = []iamtypes.Tag{{Key: aws.String(rotation.ManagedTagKey), Value: aws.String(rotation.ManagedTagValue)}}
	}
	// The fixture's user name is its own (motoserver.CreateOnce).
	resent, err := motoserver.CreateOnce(func(opt func(*iam.Options)) error {
		_, err := world.iam.CreateUser(f.ctx, &iam.CreateUserInput{UserName: aws.String(f.user), Tags: tags}, opt)
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if resent != "" {
		f.t.Logf("create user %s: the SDK sent it again after: %s", f.user, resent)
	}
}

// addKey gives the user a key made outside keyrotor; it returns id and secret.
func (f *fixture) addKey(status iamtypes.StatusType) (string, string) {
	f.t.Helper()
	out, err := world.iam.CreateAccessKey(f.ctx, &iam.CreateAccessKeyInput{UserName: aws.String(f.user)})
	if err != nil {
		f.t.Fatal(err)
	}
	id := aws.ToString(out.AccessKey.AccessKeyId)
	if status == iamtypes.StatusTypeInactive {
		if _, err := world.iam.UpdateAccessKey(f.ctx, &iam.UpdateAccessKeyInput{
			UserName: aws.String(f.user), AccessKeyId: aws.String(id), Status: status,
		}); err != nil {
			f.t.Fatal(err)
		}
	}
	return id, aws.ToString(out.AccessKey.SecretAccessKey)
}

// seedParameter stores a key as keyrotor would have (a previous rotation).
func (f *fixture) seedParameter(id, secret string) {
	f.t.Helper()
	value, _ := json.Marshal(map[string]string{"AccessKeyId": id, "SecretAccessKey": secret})
	f.putParameter(string(value), "keyrotor:"+id)
}

func (f *fixture) putParameter(value, description string) {
	f.t.Helper()
	if _, err := world.ssm.PutParameter(f.ctx, &ssm.PutParameterInput{
		Name: aws.String(f.param), Value: aws.String(value), Type: ssmtypes.ParameterTypeSecureString,
		KeyId: aws.String(world.kmsKeyID), Overwrite: aws.Bool(true), Description: aws.String(description),
	}); err != nil {
		f.t.Fatal(err)
	}
}

// userWithKey creates the managed user with one active key that the parameter holds, as a
// previous rotation left it, and returns the key's id and secret.
func (f *fixture) userWithKey() (id, secret string) {
	f.t.Helper()
	f.createUser()
	id, secret = f.addKey(iamtypes.StatusTypeActive)
	f.seedParameter(id, secret)
	return id, secret
}

// rotateAfterStaleLock runs, through run, a full rotation of a user with an active and an
// inactive key (the inactive one deleted to make room), after breaking the lock of an
// execution stopped mid-rotation; it returns the rotation's output.
func (f *fixture) rotateAfterStaleLock(run func(action, exec string, r rotation.Rotation) rotation.Rotation) rotation.Rotation {
	f.t.Helper()
	f.createUser()
	old, oldSecret := f.addKey(iamtypes.StatusTypeActive)
	f.addKey(iamtypes.StatusTypeInactive)
	f.seedParameter(old, oldSecret)
	stale := f.execution()
	run("begin", stale, rotation.Rotation{Input: rotation.Input{UserName: f.user}})
	f.stop(stale)
	exec := f.execution()
	r := rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}}
	for _, action := range []string{"begin", "create", "store", "verify", "deactivate", "delete"} {
		r = run(action, exec, r)
	}
	return r
}

// pending are executions named but not yet started (ARN → name).
var pending = map[string]string{}

// execution names an execution of moto's (forever RUNNING) state machine and returns its ARN;
// it starts when a step first names it (started), as Step Functions starts a rotation with
// the input its Begin receives.
func (f *fixture) execution() string {
	f.t.Helper()
	name := fmt.Sprintf("e%d-%d", time.Now().UnixNano(), userSeq.Add(1))
	arn := strings.Replace(world.stateMachine, ":stateMachine:", ":execution:", 1) + ":" + name
	pending[arn] = name
	return arn
}

// started starts a pending execution: with r as its input when the first step is begin.
func (f *fixture) started(exec, action string, r rotation.Rotation) {
	f.t.Helper()
	name, ok := pending[exec]
	if !ok {
		return
	}
	delete(pending, exec)
	input := "{}"
	if action == "begin" {
		b, _ := json.Marshal(r)
		input = string(b)
	}
	if _, err := world.sfn.StartExecution(f.ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(world.stateMachine),
		Name: aws.String(name), Input: aws.String(input)}); err != nil {
		f.t.Fatal(err)
	}
}

// stop stops an execution as StopExecution does (ABORTED: no Catch runs).
func (f *fixture) stop(exec string) {
	f.t.Helper()
	f.started(exec, "", rotation.Rotation{})
	if _, err := world.sfn.StopExecution(f.ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(exec)}); err != nil {
		f.t.Fatal(err)
	}
}

// run calls one step and keeps its output and error text for the secret scan.
func (f *fixture) run(action, execution string, r rotation.Rotation) (rotation.Rotation, error) {
	f.t.Helper()
	step, ok := f.steps.Actions()[action]
	if !ok {
		f.t.Fatalf("no action %q", action)
	}
	f.started(execution, action, r)
	out, err := step(f.ctx, rotation.Request{Action: action, ExecutionID: execution, Rotation: r})
	b, _ := json.Marshal(out)
	f.outputs = append(f.outputs, string(b))
	if err != nil {
		f.outputs = append(f.outputs, err.Error(), fmt.Sprintf("%+v", err))
	}
	return out, err
}

// mustRun runs a step that must succeed.
func (f *fixture) mustRun(action, execution string, r rotation.Rotation) rotation.Rotation {
	f.t.Helper()
	out, err := f.run(action, execution, r)
	if err != nil {
		f.t.Fatalf("%s: %v", action, err)
	}
	return out
}

// rotate runs the whole happy path with no waits.
func (f *fixture) rotate(execution string, input rotation.Rotation) rotation.Rotation {
	f.t.Helper()
	r := input
	for _, action := range []string{"begin", "create", "store", "verify", "deactivate", "delete"} {
		r = f.mustRun(action, execution, r)
	}
	return r
}

func zero() *int { z := 0; return &z }

// keys returns the user's keys as id → status.
func (f *fixture) keys() map[string]iamtypes.StatusType {
	f.t.Helper()
	out, err := world.iam.ListAccessKeys(f.ctx, &iam.ListAccessKeysInput{UserName: aws.String(f.user)})
	if err != nil {
		f.t.Fatal(err)
	}
	keys := map[string]iamtypes.StatusType{}
	for _, k := range out.AccessKeyMetadata {
		keys[aws.ToString(k.AccessKeyId)] = k.Status
	}
	return keys
}

// parameter returns the decrypted current value and version (version 0: no parameter).
func (f *fixture) parameter() (string, int64) {
	f.t.Helper()
	out, err := world.ssm.GetParameter(f.ctx, &ssm.GetParameterInput{Name: aws.String(f.param), WithDecryption: aws.Bool(true)})
	var notFound *ssmtypes.ParameterNotFound
	if errors.As(err, &notFound) {
		return "", 0
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return aws.ToString(out.Parameter.Value), out.Parameter.Version
}

// storedSecret is the secret the parameter holds (json format).
func (f *fixture) storedSecret() (string, string) {
	f.t.Helper()
	value, _ := f.parameter()
	var k struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(value), &k); err != nil {
		f.t.Fatalf("parameter value is not the json format")
	}
	return k.AccessKeyId, k.SecretAccessKey
}

func (f *fixture) lockHeld() bool {
	f.t.Helper()
	_, err := world.ssm.GetParameter(f.ctx, &ssm.GetParameterInput{Name: aws.String(f.param + ".lock")})
	var notFound *ssmtypes.ParameterNotFound
	if errors.As(err, &notFound) {
		return false
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return true
}

// assertSecretNowhere fails if a secret appears in a log line, a step output or error, or a
// call the proxy recorded.
func (f *fixture) assertSecretNowhere(secret string) {
	f.t.Helper()
	if len(secret) < 20 {
		f.t.Fatalf("implausible secret length %d", len(secret))
	}
	if strings.Contains(f.logs.String(), secret) {
		f.t.Error("the secret appears in the logs")
	}
	for i, o := range f.outputs {
		if strings.Contains(o, secret) {
			f.t.Errorf("the secret appears in step output/error #%d", i)
		}
	}
	for _, c := range world.proxy.Calls() {
		if strings.Contains(fmt.Sprintf("%+v", c), secret) {
			f.t.Errorf("the secret appears in recorded call %s:%s", c.Service, c.Action)
		}
	}
}

func errorName(err error) string { return rotation.ErrorName(err) }
