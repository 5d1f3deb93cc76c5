package rotation_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// EnvAttacks sets how many forged requests TestAttackFuzzerHarmsNoBystander sends (make
// attacks runs a long campaign); EnvAttackSeed replays one campaign.
const (
	EnvAttacks     = "KEYROTOR_ATTACKS"
	EnvAttackSeed  = "KEYROTOR_ATTACK_SEED"
	defaultAttacks = 60
)

// bystander is a managed user whose parameter must keep an Active key that authenticates as
// it, in its format, whatever anyone sends the step functions.
type bystander struct {
	f      *fixture
	acct   *awsAccount // where the user, its keys and its parameter live
	id     string      // IAM user id
	format string
	stay   int // where its rotation stays: running after n steps, stopped after -n, ended (6)
}

// genuine is a rotation document one of the steps returned to a real execution.
type genuine struct {
	execution string
	doc       rotation.Rotation
}

// The attack fuzzer of issue 24: many random step requests built from the real records and
// documents of other users and of running, stopped and ended executions, each sent to the
// function serving its action (or to another), and trigger requests as Terraform sends them
// (forgeTriggerEvent), over bystanders in the hub and in a member account; after each, every
// bystander's parameter holds an Active key that authenticates as that user in that account in
// its format, and no secret is in any output.
// The executions are moto's, RUNNING until stopped (the local engine's virtual clock ends any
// Wait at once, so it cannot hold a rotation in its grace period).
func TestAttackFuzzerHarmsNoBystander(t *testing.T) {
	n := defaultAttacks
	if v := os.Getenv(EnvAttacks); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("%s=%q must be a positive number", EnvAttacks, v)
		}
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(EnvAttackSeed); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("%s=%q must be a number", EnvAttackSeed, v)
		}
	}
	t.Logf("seed %d (replay with %s=%d)", seed, EnvAttackSeed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	// Bystanders, each with a rotation left in a different place: running after each step,
	// stopped (ABORTED, no Catch ran), ended.
	var people []*bystander
	var docs []genuine
	var executions []string
	// leave runs a fresh rotation of p to where it stays: running after that many steps,
	// stopped after -that many, ended; its documents join the pool.
	// A rotation that fails here is harm too: an attack poisoned the user's next rotations.
	leave := func(p *bystander) error {
		f := p.f
		exec := f.execution()
		executions = append(executions, exec)
		steps := max(p.stay, -p.stay)
		r := rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero(), AccountID: p.acct.id}}
		docs = append(docs, genuine{exec, r})
		for _, action := range []string{"begin", "create", "store", "verify", "deactivate", "delete"}[:steps] {
			var err error
			if r, err = p.run(action, exec, r); err != nil {
				p.stay = 6 // left as it is from now on
				return fmt.Errorf("its next rotation fails at %s: %w", action, err)
			}
			docs = append(docs, genuine{exec, r})
		}
		if p.stay < 0 {
			f.stop(exec)
		}
		return nil
	}
	// The hub's bystanders, then the member account's: one named as a hub bystander (another
	// account's user of the same name), one of its own.
	mem := memberAccount(t.Context(), t)
	conf := attackConfig()
	for i, stay := range []int{1, 2, 3, 4, 5, -2, -3, 6, 3, 6} {
		f := newFixture(t)
		f.steps = rotation.NewSteps(world.cfg, conf, slog.New(slog.NewJSONHandler(f.logs, nil)))
		f.user = fmt.Sprintf("%s-%d", f.user, i)
		b := &bystander{f: f, acct: hub(), format: rotation.FormatJSON, stay: stay}
		if i >= 8 {
			b.acct = mem
			if i == 8 {
				f.user = people[1].f.user
			}
		}
		f.param = rotation.DefaultParameterPrefix + f.user
		if i == 2 {
			b.format = rotation.FormatRaw
		}
		b.seed()
		u, err := b.acct.iam.GetUser(f.ctx, &iam.GetUserInput{UserName: aws.String(f.user)})
		if err != nil {
			t.Fatal(err)
		}
		b.id = aws.ToString(u.User.UserId)
		people = append(people, b)
		if err := leave(b); err != nil {
			t.Fatal(err)
		}
	}
	executions = append(executions, strings.Replace(world.stateMachine, ":stateMachine:", ":execution:", 1)+":made-up")
	attacker := people[0].f
	functions := rotation.Functions()
	trigger, triggerARN := triggerHost(t)
	triggers := 0

	harmed := 0
	for i := range n {
		// Mostly a real document with its own execution (anything else fails at the lock),
		// changed in one field (a claim), sometimes replayed as it is or changed in several.
		g := docs[rng.IntN(len(docs))]
		r := g.doc
		exec := g.execution
		if rng.IntN(4) == 0 {
			exec = executions[rng.IntN(len(executions))]
		}
		other := people[rng.IntN(len(people))]
		forged := []int{0, 1, 1, 1, 2, 3}[rng.IntN(6)]
		for range forged {
			// Identity (user, id, parameter, key) is drawn three times as often.
			switch c := rng.IntN(16); {
			case c < 3:
				r.UserName = other.f.user
			case c < 5:
				r.ParameterName = other.f.param
			case c < 6:
				r.UserID = other.id
			case c < 8:
				for id := range other.keys() {
					r.NewAccessKeyID = id
				}
			case c < 9:
				r.PreviousParameterVersion = int64(rng.IntN(3) + 1)
			case c < 10:
				r.VerifiedAt = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
			case c < 11:
				r.Extensions = rotation.MaxExtensions
			case c < 12:
				r.Format = []string{rotation.FormatRaw, rotation.FormatJSON}[rng.IntN(2)]
				r.ChangeFormat = true
			case c < 13:
				r.AccountID = []string{"", attackMember}[rng.IntN(2)]
			case c < 14:
				r.MovedFrom, r.Move = other.f.param, true
			case c < 15:
				r.PreviousAccessKeyIDs = slices.Collect(maps.Keys(other.keys()))
			default:
				r.SealedSecret = docs[rng.IntN(len(docs))].doc.SealedSecret
			}
		}
		var (
			fnName, action string
			err            error
		)
		if rng.IntN(4) == 0 {
			// A trigger request, as aws_lambda_invocation sends one, naming users, parameters
			// and accounts of different bystanders (a genuine destroy is skipped: it is the
			// deployer's to make).
			ev, what := forgeTriggerEvent(rng, people)
			triggers++
			fnName, action = "trigger", what
			res, ierr := trigger.Invoke(attacker.ctx, triggerARN, ev)
			if ierr != nil {
				t.Fatalf("invoke the trigger: %v", ierr)
			}
			attacker.outputs = append(attacker.outputs, string(res.Payload), strings.Join(res.Logs, "\n"))
			if res.FunctionError != "" {
				err = fmt.Errorf("%s: %s", res.ErrorType, res.ErrorMessage)
			}
		} else {
			// Any action, mostly sent to the function that serves it.
			actions := slices.Sorted(maps.Keys(attacker.steps.Actions()))
			action = actions[rng.IntN(len(actions))]
			fn := functions[rng.IntN(len(functions))]
			if rng.IntN(5) > 0 {
				for _, f := range functions {
					if slices.Contains(f.Actions, action) {
						fn = f
					}
				}
			}
			fnName = fn.Name
			var out rotation.Rotation
			out, err = attacker.steps.Dispatch(fn.Actions...)(attacker.ctx, rotation.Request{Action: action, ExecutionID: exec, Rotation: r})
			b, _ := json.Marshal(out)
			attacker.outputs = append(attacker.outputs, string(b))
			if err != nil {
				attacker.outputs = append(attacker.outputs, err.Error())
			}
		}
		// Every bystander is read at once (reads only; moto serves them side by side).
		problems, held := make([]string, len(people)), make([]bool, len(people))
		var wg sync.WaitGroup
		for j, p := range people {
			wg.Go(func() {
				if problems[j] = p.harmed(); problems[j] == "" && p.stay < 6 {
					var err error
					if held[j], err = p.lockHeld(); err != nil {
						problems[j] = err.Error()
					}
				}
			})
		}
		wg.Wait()
		for j, p := range people {
			// A running or stopped rotation that a request ended (a genuine next step, a
			// rollback) is left again, so that every kind of record stays in the pool.
			problem := problems[j]
			if p.stay < 6 && problem == "" && !held[j] {
				if err := leave(p); err != nil {
					problem = err.Error()
				}
			}
			if problem != "" {
				harmed++
				t.Errorf("request %d (%s %s for %s, %d forged fields, answer %v) harmed %s in %s: %s",
					i, fnName, action, exec, forged, err, p.f.user, p.acct, problem)
			}
		}
	}
	// Nothing secret in any output, error or log line.
	for _, p := range people {
		for _, secret := range p.secrets() {
			for _, o := range attacker.outputs {
				if strings.Contains(o, secret) {
					t.Errorf("a secret of %s is in a step's answer", p.f.user)
				}
			}
			if strings.Contains(attacker.logs.String(), secret) {
				t.Errorf("a secret of %s is in the logs", p.f.user)
			}
		}
	}
	fmt.Printf("attacks: %d forged requests, %d bystanders harmed\n", n, harmed)
	t.Logf("attacks: %d forged requests (%d to the trigger), %d bystanders harmed", n, triggers, harmed)
}

// consumerKey reads the parameter as a consumer in the bystander's format.
func (p *bystander) consumerKey() (id, secret string, err error) {
	out, err := p.acct.ssm.GetParameter(p.f.ctx, &ssm.GetParameterInput{Name: aws.String(p.f.param), WithDecryption: aws.Bool(true)})
	if err != nil {
		return "", "", err
	}
	value := aws.ToString(out.Parameter.Value)
	if p.format == rotation.FormatRaw {
		if strings.HasPrefix(value, "{") {
			return "", "", fmt.Errorf("raw parameter now holds JSON")
		}
		return "", value, nil // the key id is in the version's Description (harmed reads it)
	}
	var k struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(value), &k); err != nil || k.AccessKeyId == "" {
		return "", "", fmt.Errorf("json parameter no longer parses as JSON")
	}
	return k.AccessKeyId, k.SecretAccessKey, nil
}

// harmed says what is wrong with the bystander's parameter ("" when nothing is).
func (p *bystander) harmed() string {
	id, secret, err := p.consumerKey()
	if err != nil {
		return err.Error()
	}
	if p.format == rotation.FormatRaw { // GetParameter has no Description: the history does
		hist, err := p.acct.ssm.GetParameterHistory(p.f.ctx, &ssm.GetParameterHistoryInput{Name: aws.String(p.f.param)})
		if err != nil || len(hist.Parameters) == 0 {
			return fmt.Sprintf("history unreadable: %v", err)
		}
		id = rotation.HeldAccessKeyID(aws.ToString(hist.Parameters[len(hist.Parameters)-1].Description))
	}
	keys, err := p.keysOrError()
	if err != nil {
		return err.Error()
	}
	if status, ok := keys[id]; !ok || status != iamtypes.StatusTypeActive {
		return fmt.Sprintf("the parameter's key %s is %q", id, status)
	}
	cfg := motoserver.Config(world.moto.Endpoint, aws.Credentials{AccessKeyID: id, SecretAccessKey: secret})
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(p.f.ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Sprintf("the parameter's key does not authenticate: %v", err)
	}
	account := motoserver.AccountID
	if p.acct.id != "" {
		account = p.acct.id
	}
	if aws.ToString(who.UserId) != p.id || !strings.HasSuffix(aws.ToString(who.Arn), ":user/"+p.f.user) || aws.ToString(who.Account) != account {
		return fmt.Sprintf("the parameter's key authenticates as %s (%s)", aws.ToString(who.Arn), aws.ToString(who.UserId))
	}
	return ""
}

// secrets are the bystander's secrets that any version of its parameter held.
func (p *bystander) secrets() []string {
	hist, err := p.acct.ssm.GetParameterHistory(p.f.ctx, &ssm.GetParameterHistoryInput{Name: aws.String(p.f.param), WithDecryption: aws.Bool(true)})
	if err != nil {
		return nil
	}
	var out []string
	for _, v := range hist.Parameters {
		value := aws.ToString(v.Value)
		var k struct{ SecretAccessKey string }
		if json.Unmarshal([]byte(value), &k) == nil && k.SecretAccessKey != "" {
			value = k.SecretAccessKey
		}
		if len(value) >= 20 {
			out = append(out, value)
		}
	}
	return out
}

// seed creates the bystander's managed user in its account with one key, stored in its
// parameter in its format as a previous rotation leaves it.
func (p *bystander) seed() {
	f := p.f
	f.t.Helper()
	tags := []iamtypes.Tag{tag(rotation.ManagedTagKey, rotation.ManagedTagValue)}
	if p.format == rotation.FormatRaw {
		tags = append(tags, tag(rotation.FormatTagKey, rotation.FormatRaw))
	}
	if _, err := p.acct.iam.CreateUser(f.ctx, &iam.CreateUserInput{UserName: aws.String(f.user), Tags: tags}); err != nil {
		f.t.Fatal(err)
	}
	k, err := p.acct.iam.CreateAccessKey(f.ctx, &iam.CreateAccessKeyInput{UserName: aws.String(f.user)})
	if err != nil {
		f.t.Fatal(err)
	}
	id, secret := aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)
	value := secret
	if p.format == rotation.FormatJSON {
		b, _ := json.Marshal(map[string]string{"AccessKeyId": id, "SecretAccessKey": secret})
		value = string(b)
	}
	keyID := world.kmsKeyID
	if p.acct.id != "" {
		keyID = rotation.MemberKMSKeyAlias
	}
	if _, err := p.acct.ssm.PutParameter(f.ctx, &ssm.PutParameterInput{Name: aws.String(f.param), Value: aws.String(value),
		Type: ssmtypes.ParameterTypeSecureString, KeyId: aws.String(keyID), Overwrite: aws.Bool(true),
		Description: aws.String(rotation.DescriptionPrefix + id)}); err != nil {
		f.t.Fatal(err)
	}
}

// run runs one step of the bystander's rotation as the state machine would, through the
// functions' dispatch (which acts in the member account for a member's user).
func (p *bystander) run(action, exec string, r rotation.Rotation) (rotation.Rotation, error) {
	f := p.f
	f.started(exec, action, r)
	out, err := f.steps.Dispatch(slices.Collect(maps.Keys(f.steps.Actions()))...)(f.ctx, rotation.Request{Action: action, ExecutionID: exec, Rotation: r})
	b, _ := json.Marshal(out)
	f.outputs = append(f.outputs, string(b))
	if err != nil {
		f.outputs = append(f.outputs, err.Error())
	}
	return out, err
}

// keys are the bystander's keys, id → status.
func (p *bystander) keys() map[string]iamtypes.StatusType {
	keys, err := p.keysOrError()
	if err != nil {
		p.f.t.Fatal(err)
	}
	return keys
}

func (p *bystander) keysOrError() (map[string]iamtypes.StatusType, error) {
	out, err := p.acct.iam.ListAccessKeys(p.f.ctx, &iam.ListAccessKeysInput{UserName: aws.String(p.f.user)})
	if err != nil {
		return nil, err
	}
	keys := map[string]iamtypes.StatusType{}
	for _, k := range out.AccessKeyMetadata {
		keys[aws.ToString(k.AccessKeyId)] = k.Status
	}
	return keys, nil
}

// lockHeld says whether the bystander's parameter is locked (a rotation holds its record).
func (p *bystander) lockHeld() (bool, error) {
	_, err := p.acct.ssm.GetParameter(p.f.ctx, &ssm.GetParameterInput{Name: aws.String(p.f.param + rotation.LockSuffix)})
	var notFound *ssmtypes.ParameterNotFound
	if errors.As(err, &notFound) {
		return false, nil
	}
	return err == nil, err
}

// forgeTriggerEvent builds a trigger request as Terraform's aws_lambda_invocation sends one,
// from the names of different bystanders: one's user (sometimes in IAM's other case), another's
// parameter, a third's account, an update's previous input likewise; on delete, prev_input is
// the current input. A genuine destroy (a user, its own parameter, its own account) is the
// deployer's to make and is never drawn.
func forgeTriggerEvent(rng *rand.Rand, people []*bystander) (event []byte, action string) {
	draw := func() rotation.Input {
		in := rotation.Input{UserName: people[rng.IntN(len(people))].f.user, AccountID: people[rng.IntN(len(people))].acct.id}
		if rng.IntN(4) > 0 {
			in.ParameterName = people[rng.IntN(len(people))].f.param
		}
		if rng.IntN(6) == 0 {
			in.UserName = strings.ToUpper(in.UserName)
		}
		if rng.IntN(4) == 0 {
			in.Format = []string{rotation.FormatJSON, rotation.FormatRaw}[rng.IntN(2)]
		}
		return in
	}
	genuine := func(in rotation.Input) bool {
		return slices.ContainsFunc(people, func(p *bystander) bool {
			return p.f.user == in.UserName && p.acct.id == in.AccountID && (in.ParameterName == "" || in.ParameterName == p.f.param)
		})
	}
	for {
		action = []string{"create", "update", "delete"}[rng.IntN(3)]
		in := draw()
		switch action {
		case "delete":
			if genuine(in) {
				continue
			}
			return tfEvent(action, in, &in), action
		case "update":
			// An update away from a previous input destroys it once the new key is verified.
			prev := draw()
			if genuine(prev) {
				continue
			}
			return tfEvent(action, in, &prev), action
		}
		return tfEvent(action, in, nil), action
	}
}
