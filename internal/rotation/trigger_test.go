package rotation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

const machine = "arn:aws:states:us-east-1:123456789012:stateMachine:keyrotor-rotate"

// sealedMarker stands for the sealed secret in state outputs; it must never leave the trigger.
const sealedMarker = "AQICAHhSEALEDSECRETCIPHERTEXT"

// scriptedExecutions plays the Step Functions API for one execution: each DescribeExecution
// returns the next scripted status, and the history holds the events scripted so far.
type scriptedExecutions struct {
	mu      sync.Mutex
	started []sfn.StartExecutionInput
	stops   []sfn.StopExecutionInput // once stopped, the execution is ABORTED
	// others are executions besides the scripted one, RUNNING until stopped.
	others   map[string]bool
	statuses []execution
	polls    int
}

type execution struct {
	status  sfntypes.ExecutionStatus
	output  string // execution output when SUCCEEDED
	history []sfntypes.HistoryEvent
	errName string
	cause   string
}

func (s *scriptedExecutions) current() execution {
	if s.polls >= len(s.statuses) {
		return s.statuses[len(s.statuses)-1]
	}
	return s.statuses[s.polls]
}

func (s *scriptedExecutions) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = append(s.started, *in)
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String("arn:aws:states:us-east-1:123456789012:execution:keyrotor-rotate:" + aws.ToString(in.Name))}, nil
}

func (s *scriptedExecutions) DescribeExecution(_ context.Context, in *sfn.DescribeExecutionInput, _ ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.others[aws.ToString(in.ExecutionArn)] {
		out := &sfn.DescribeExecutionOutput{ExecutionArn: in.ExecutionArn, Status: sfntypes.ExecutionStatusRunning}
		for _, st := range s.stops {
			if aws.ToString(st.ExecutionArn) == aws.ToString(in.ExecutionArn) {
				out.Status, out.Error, out.Cause = sfntypes.ExecutionStatusAborted, st.Error, st.Cause
			}
		}
		return out, nil
	}
	s.polls++
	e := s.current()
	if len(s.stops) > 0 && s.others == nil {
		e = execution{status: sfntypes.ExecutionStatusAborted, errName: aws.ToString(s.stops[0].Error), cause: aws.ToString(s.stops[0].Cause)}
	}
	out := &sfn.DescribeExecutionOutput{ExecutionArn: in.ExecutionArn, Status: e.status}
	if e.output != "" {
		out.Output = aws.String(e.output)
	}
	if e.errName != "" {
		out.Error, out.Cause = aws.String(e.errName), aws.String(e.cause)
	}
	return out, nil
}

func (s *scriptedExecutions) StopExecution(_ context.Context, in *sfn.StopExecutionInput, _ ...func(*sfn.Options)) (*sfn.StopExecutionOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stops = append(s.stops, *in)
	return &sfn.StopExecutionOutput{}, nil
}

func (s *scriptedExecutions) GetExecutionHistory(_ context.Context, in *sfn.GetExecutionHistoryInput, _ ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	events := append([]sfntypes.HistoryEvent(nil), s.current().history...)
	if in.ReverseOrder {
		for i, j := 0, len(events)-1; i < j; i, j = i+1, j-1 {
			events[i], events[j] = events[j], events[i]
		}
	}
	return &sfn.GetExecutionHistoryOutput{Events: events}, nil
}

func exited(state, output string) sfntypes.HistoryEvent {
	return sfntypes.HistoryEvent{Type: sfntypes.HistoryEventTypeTaskStateExited,
		StateExitedEventDetails: &sfntypes.StateExitedEventDetails{Name: aws.String(state), Output: aws.String(output)}}
}

func doc(key, verifiedAt string) string {
	b, _ := json.Marshal(map[string]any{"userName": "s3-signer", "newAccessKeyId": key, "sealedSecret": sealedMarker, "verifiedAt": verifiedAt})
	return string(b)
}

func newTrigger(ex TriggerExecutions, logs *bytes.Buffer) *Trigger {
	return &Trigger{
		StateMachineARN: machine, ParameterPrefix: "/keyrotor/", Executions: ex,
		Logger:       slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		PollInterval: time.Millisecond, MaxPollInterval: 2 * time.Millisecond, DeadlineMargin: 5 * time.Second,
	}
}

func TestTriggerCreateReturnsOnceTheKeyIsVerified(t *testing.T) {
	created := exited("CreateKey", doc("AKIANEW", ""))
	stored := exited("StoreParameter", doc("AKIANEW", ""))
	tests := []struct {
		name     string
		statuses []execution
		wantKey  string
		wantErr  string
	}{
		{"verified while the grace period runs", []execution{
			{status: sfntypes.ExecutionStatusRunning, history: []sfntypes.HistoryEvent{created}},
			{status: sfntypes.ExecutionStatusRunning, history: []sfntypes.HistoryEvent{created, stored}},
			{status: sfntypes.ExecutionStatusRunning, history: []sfntypes.HistoryEvent{created, stored, exited(VerifyState, doc("AKIANEW", "2026-11-24T12:00:00Z"))}},
		}, "AKIANEW", ""},
		{"finished before the first look", []execution{
			{status: sfntypes.ExecutionStatusSucceeded, output: doc("AKIANEW", "2026-11-24T12:00:00Z")},
		}, "AKIANEW", ""},
		{"verification failed and rolled back", []execution{
			{status: sfntypes.ExecutionStatusRunning, history: []sfntypes.HistoryEvent{created}},
			{status: sfntypes.ExecutionStatusFailed, errName: "VerificationFailed", cause: "STS refuses key AKIANEW read from /keyrotor/s3-signer; the previous value was restored"},
		}, "", "ended FAILED: VerificationFailed: STS refuses key AKIANEW"},
		{"user not managed", []execution{
			{status: sfntypes.ExecutionStatusFailed, errName: "UserNotManaged", cause: "IAM user s3-signer is not tagged keyrotor:managed=true"},
		}, "", "UserNotManaged: IAM user s3-signer is not tagged"},
		{"succeeded without verification", []execution{
			{status: sfntypes.ExecutionStatusSucceeded, output: doc("AKIANEW", "")},
		}, "", "without a verified key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := &scriptedExecutions{statuses: tt.statuses}
			var logs bytes.Buffer
			res, err := newTrigger(ex, &logs).Handle(context.Background(), TriggerEvent{
				Rotation: Input{UserName: "s3-signer"}, TF: &TF{Action: "create"},
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				want := TriggerResult{AccessKeyID: tt.wantKey, ParameterName: "/keyrotor/s3-signer",
					ParameterARN: "arn:aws:ssm:us-east-1:123456789012:parameter/keyrotor/s3-signer",
					ExecutionARN: "arn:aws:states:us-east-1:123456789012:execution:keyrotor-rotate:" + aws.ToString(ex.started[0].Name)}
				if res != want {
					t.Fatalf("got %+v, want %+v", res, want)
				}
			}
			if len(ex.started) != 1 || aws.ToString(ex.started[0].StateMachineArn) != machine {
				t.Fatalf("started %+v", ex.started)
			}
			var input map[string]any
			if err := json.Unmarshal([]byte(aws.ToString(ex.started[0].Input)), &input); err != nil || input["userName"] != "s3-signer" || input["parameterName"] != "/keyrotor/s3-signer" {
				t.Errorf("execution input %s", aws.ToString(ex.started[0].Input))
			}
			out, _ := json.Marshal(res)
			if strings.Contains(logs.String(), sealedMarker) || strings.Contains(string(out), sealedMarker) || (err != nil && strings.Contains(err.Error(), sealedMarker)) {
				t.Fatal("the sealed secret left the trigger")
			}
		})
	}
}

func TestTriggerCreateGivesUpBeforeTheInvocationDeadline(t *testing.T) {
	ex := &scriptedExecutions{statuses: []execution{{status: sfntypes.ExecutionStatusRunning}}}
	var logs bytes.Buffer
	// The margin (5s) exceeds what is left, so the first check that finds no verification answers.
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(2*time.Second))
	defer cancel()
	_, err := newTrigger(ex, &logs).Handle(ctx, TriggerEvent{Rotation: Input{UserName: "s3-signer"}})
	var e *Error
	if !errors.As(err, &e) || e.Name != RotationStillRunning || !strings.Contains(err.Error(), "it continues") {
		t.Fatalf("got %v, want %s", err, RotationStillRunning)
	}
	if ex.polls != 1 {
		t.Errorf("polled %d times, want 1", ex.polls)
	}
}

func TestTriggerBadInputIsRefusedBeforeAnythingStarts(t *testing.T) {
	tests := []struct {
		name string
		ev   TriggerEvent
		want string
	}{
		{"no user", TriggerEvent{}, "is not an IAM user name"},
		{"user with a space", TriggerEvent{Rotation: Input{UserName: "s3 signer"}}, "is not an IAM user name"},
		{"parameter outside the prefix", TriggerEvent{Rotation: Input{UserName: "s3-signer", ParameterName: "/app/key"}}, "must lie under /keyrotor/"},
		{"parameter named like a lock", TriggerEvent{Rotation: Input{UserName: "s3-signer", ParameterName: "/keyrotor/x.lock"}}, "not end in .lock"},
		{"unknown tf action", TriggerEvent{Rotation: Input{UserName: "s3-signer"}, TF: &TF{Action: "read"}}, "is not create, update or delete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := &scriptedExecutions{statuses: []execution{{status: sfntypes.ExecutionStatusRunning}}}
			var logs bytes.Buffer
			_, err := newTrigger(ex, &logs).Handle(context.Background(), tt.ev)
			var e *Error
			if !errors.As(err, &e) || e.Name != InvalidInput || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %s containing %q", err, InvalidInput, tt.want)
			}
			if len(ex.started) != 0 {
				t.Fatal("an execution was started")
			}
		})
	}
}

// The destroy path runs against moto's IAM and SSM.
// managedTag opts a user in.
var managedTag = []iamtypes.Tag{{Key: aws.String(ManagedTagKey), Value: aws.String(ManagedTagValue)}}

// triggerMotos are the moto servers (authorization off) the trigger tests take turns on. A
// moto start-up is seconds of Python, a reset of its state milliseconds (Server.Reset), so a test takes an idle server,
// emptied, and starts one only when none is idle (Finding 3 holds two at once); its cleanup
// gives the server back. TestMain stops them all (StopTriggerMotos).
var triggerMotos struct {
	sync.Mutex
	idle, all []*motoserver.Server
}

// startMoto gives the test a moto server holding nothing, as a fresh one does, and clients of
// its administrator.
func startMoto(ctx context.Context, t *testing.T) (*iam.Client, *ssm.Client) {
	t.Helper()
	triggerMotos.Lock()
	var srv *motoserver.Server
	if n := len(triggerMotos.idle); n > 0 {
		srv, triggerMotos.idle = triggerMotos.idle[n-1], triggerMotos.idle[:n-1]
	}
	triggerMotos.Unlock()
	if srv != nil {
		if err := srv.Reset(ctx); err != nil {
			t.Fatal(err)
		}
	} else {
		var err error
		if srv, err = motoserver.Start(ctx, motoserver.Options{}); err != nil {
			t.Fatal(err)
		}
		triggerMotos.Lock()
		triggerMotos.all = append(triggerMotos.all, srv)
		triggerMotos.Unlock()
	}
	t.Cleanup(func() {
		triggerMotos.Lock()
		defer triggerMotos.Unlock()
		triggerMotos.idle = append(triggerMotos.idle, srv)
	})
	cfg := srv.AdminConfig()
	return iam.NewFromConfig(cfg), ssm.NewFromConfig(cfg)
}

// StopTriggerMotos stops the trigger tests' moto servers; the package's TestMain calls it.
func StopTriggerMotos() {
	triggerMotos.Lock()
	defer triggerMotos.Unlock()
	for _, srv := range triggerMotos.all {
		srv.Stop()
	}
	triggerMotos.all, triggerMotos.idle = nil, nil
}

// Destroy and an update away from a user check keyrotor:managed=true themselves before deleting
// anything (moto, like a policy without its tag condition, would let the deletes through).
func TestTriggerDeleteOfAnUnmanagedUserIsRefusedAndDeletesNothing(t *testing.T) {
	ctx := context.Background()
	iamc, ssmc := startMoto(ctx, t)
	for _, tt := range []struct {
		name, user string
		tags       []iamtypes.Tag
		event      func(Input) TriggerEvent
	}{
		{"destroy, untagged", "plain", nil, func(in Input) TriggerEvent { return TriggerEvent{Rotation: in, TF: &TF{Action: "delete"}} }},
		{"destroy, tagged false", "opted-out", []iamtypes.Tag{{Key: aws.String(ManagedTagKey), Value: aws.String("false")}},
			func(in Input) TriggerEvent { return TriggerEvent{Rotation: in, TF: &TF{Action: "delete"}} }},
		{"update away from an untagged user", "previous", nil, func(in Input) TriggerEvent {
			prev, _ := json.Marshal(TriggerEvent{Rotation: in})
			return TriggerEvent{Rotation: Input{UserName: "next", ParameterName: in.ParameterName}, TF: &TF{Action: "update", PrevInput: prev}}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(tt.user), Tags: tt.tags}); err != nil {
				t.Fatal(err)
			}
			if _, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(tt.user)}); err != nil {
				t.Fatal(err)
			}
			param := "/keyrotor/" + tt.user
			if _, err := ssmc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(param), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString}); err != nil {
				t.Fatal(err)
			}
			ex := &scriptedExecutions{statuses: []execution{{status: sfntypes.ExecutionStatusSucceeded, output: doc("AKIANEW", "2026-11-24T12:00:00Z")}}}
			tr := newTrigger(ex, &bytes.Buffer{})
			tr.IAM, tr.SSM = iamc, ssmc
			_, err := tr.Handle(ctx, tt.event(Input{UserName: tt.user, ParameterName: param}))
			var e *Error
			if !errors.As(err, &e) || e.Name != UserNotManaged {
				t.Fatalf("got %v, want a %s error", err, UserNotManaged)
			}
			for _, want := range []string{tt.user, "keyrotor:managed=true", "tag"} {
				if !strings.Contains(e.Message, want) {
					t.Errorf("error %q does not name %q", e.Message, want)
				}
			}
			keys, err := iamc.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(tt.user)})
			if err != nil || len(keys.AccessKeyMetadata) != 1 {
				t.Errorf("%s has %v keys (%v), want its 1 key kept", tt.user, keys, err)
			}
			if _, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param)}); err != nil {
				t.Errorf("parameter %s was deleted: %v", param, err)
			}
		})
	}
}

// Destroy first stops the rotation that holds the lock (so that it ends ABORTED instead of
// failing on what destroy removes), and only a running execution of its own state machine.
func TestTriggerDeleteStopsTheRotationHoldingTheLockFirst(t *testing.T) {
	ctx := context.Background()
	iamc, ssmc := startMoto(ctx, t)
	ours := "arn:aws:states:us-east-1:123456789012:execution:keyrotor-rotate:tf-u-1"
	tests := []struct {
		name     string
		holder   string // lock value's executionId; "" for no lock
		status   sfntypes.ExecutionStatus
		wantStop bool
	}{
		{"running rotation in its grace period", ours, sfntypes.ExecutionStatusRunning, true},
		{"holder already ended", ours, sfntypes.ExecutionStatusFailed, false},
		{"holder of another state machine", "arn:aws:states:us-east-1:123456789012:execution:payments:x", sfntypes.ExecutionStatusRunning, false},
		{"holder of a machine whose name extends ours", "arn:aws:states:us-east-1:123456789012:execution:keyrotor-rotate-2:x", sfntypes.ExecutionStatusRunning, false},
		{"no lock", "", sfntypes.ExecutionStatusRunning, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			user := fmt.Sprintf("stop-%d", i)
			param := "/keyrotor/" + user
			if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user), Tags: managedTag}); err != nil {
				t.Fatal(err)
			}
			if tt.holder != "" {
				lock, _ := json.Marshal(map[string]any{"executionId": tt.holder, "existingAccessKeyIds": []string{}})
				if _, err := ssmc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(param + ".lock"), Value: aws.String(string(lock)), Type: ssmtypes.ParameterTypeString}); err != nil {
					t.Fatal(err)
				}
			}
			ex := &scriptedExecutions{statuses: []execution{{status: tt.status}}}
			var logs bytes.Buffer
			tr := newTrigger(ex, &logs)
			tr.IAM, tr.SSM = iamc, ssmc
			if _, err := tr.Handle(ctx, TriggerEvent{Rotation: Input{UserName: user}, TF: &TF{Action: "delete"}}); err != nil {
				t.Fatal(err)
			}
			if got := len(ex.stops) > 0; got != tt.wantStop {
				t.Fatalf("stopped = %v (%v), want %v", got, ex.stops, tt.wantStop)
			}
			if tt.wantStop {
				st := ex.stops[0]
				if aws.ToString(st.ExecutionArn) != tt.holder || aws.ToString(st.Error) != DestroyedError || !strings.Contains(aws.ToString(st.Cause), param) {
					t.Errorf("StopExecution(%s, %s, %q)", aws.ToString(st.ExecutionArn), aws.ToString(st.Error), aws.ToString(st.Cause))
				}
				if !strings.Contains(logs.String(), `"status":"ABORTED"`) {
					t.Errorf("destroy did not wait for the rotation to end ABORTED; logs:\n%s", logs.String())
				}
			}
			if _, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param + ".lock")}); err == nil {
				t.Error("the lock is still there")
			}
		})
	}
}

// An update that moves to a new parameter stops the rotation still waiting on the old one
// before deleting the old parameter and lock, as destroy does.
func TestTriggerUpdateStopsTheRotationOfTheParameterItMovesAwayFrom(t *testing.T) {
	ctx := context.Background()
	iamc, ssmc := startMoto(ctx, t)
	for _, u := range []string{"mover", "mover-new"} {
		if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(u), Tags: managedTag}); err != nil {
			t.Fatal(err)
		}
	}
	waiting := "arn:aws:states:us-east-1:123456789012:execution:keyrotor-rotate:tf-mover-1"
	lock, _ := json.Marshal(map[string]any{"executionId": waiting, "existingAccessKeyIds": []string{}})
	for _, tt := range []struct {
		name string
		next Input
	}{
		{"parameter renamed", Input{UserName: "mover", ParameterName: "/keyrotor/mover/v2"}},
		{"user changed", Input{UserName: "mover-new"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ssmc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/keyrotor/mover.lock"), Value: aws.String(string(lock)), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}); err != nil {
				t.Fatal(err)
			}
			ex := &scriptedExecutions{statuses: []execution{{status: sfntypes.ExecutionStatusSucceeded, output: doc("AKIANEW", "2026-11-24T12:00:00Z")}},
				others: map[string]bool{waiting: true}}
			tr := newTrigger(ex, &bytes.Buffer{})
			tr.IAM, tr.SSM = iamc, ssmc
			prev, _ := json.Marshal(TriggerEvent{Rotation: Input{UserName: "mover"}})
			if _, err := tr.Handle(ctx, TriggerEvent{Rotation: tt.next, TF: &TF{Action: "update", PrevInput: prev}}); err != nil {
				t.Fatal(err)
			}
			if len(ex.stops) != 1 || aws.ToString(ex.stops[0].ExecutionArn) != waiting || aws.ToString(ex.stops[0].Error) != DestroyedError {
				t.Errorf("stops %v, want %s stopped once with %s", ex.stops, waiting, DestroyedError)
			}
			if _, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/keyrotor/mover.lock")}); err == nil {
				t.Error("the old lock is still there")
			}
		})
	}
}

func TestTriggerDeleteRemovesTheManagedKeysAndTheParameter(t *testing.T) {
	ctx := context.Background()
	iamc, ssmc := startMoto(ctx, t)
	if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("s3-signer"), Tags: managedTag}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("s3-signer")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []struct{ name, value string }{{"/keyrotor/s3-signer", `{"AccessKeyId":"x","SecretAccessKey":"y"}`}, {"/keyrotor/s3-signer.lock", `{}`}, {"/keyrotor/other", "z"}} {
		if _, err := ssmc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(p.name), Value: aws.String(p.value), Type: ssmtypes.ParameterTypeString}); err != nil {
			t.Fatal(err)
		}
	}
	ownedBy(ctx, t, ssmc, "/keyrotor/s3-signer", "s3-signer")
	var logs bytes.Buffer
	tr := newTrigger(&scriptedExecutions{}, &logs)
	tr.IAM, tr.SSM = iamc, ssmc
	ev := TriggerEvent{Rotation: Input{UserName: "s3-signer"}, TF: &TF{Action: "delete"}}

	for _, round := range []string{"first destroy", "repeated destroy"} {
		res, err := tr.Handle(ctx, ev)
		if err != nil {
			t.Fatalf("%s: %v", round, err)
		}
		if res.ParameterName != "/keyrotor/s3-signer" || res.AccessKeyID != "" {
			t.Errorf("%s: result %+v", round, res)
		}
	}
	keys, err := iamc.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("s3-signer")})
	if err != nil || len(keys.AccessKeyMetadata) != 0 {
		t.Fatalf("keys left: %v %v", keys, err)
	}
	for _, p := range []struct {
		name string
		kept bool
	}{{"/keyrotor/s3-signer", false}, {"/keyrotor/s3-signer.lock", false}, {"/keyrotor/other", true}} {
		_, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(p.name)})
		if kept := err == nil; kept != p.kept {
			t.Errorf("parameter %s kept = %v, want %v (%v)", p.name, kept, p.kept, err)
		}
	}

	// A user that is already gone is not an error either.
	ev.Rotation.UserName = "deleted-user"
	if _, err := tr.Handle(ctx, ev); err != nil {
		t.Fatalf("destroy of a deleted user: %v", err)
	}
}

// An update cleans up, after verification, what it moved away from: a renamed parameter, and
// the keys of a previous user (against moto's IAM and SSM).
func TestTriggerUpdateRemovesWhatItMovedAwayFrom(t *testing.T) {
	ctx := context.Background()
	iamc, ssmc := startMoto(ctx, t)
	tests := []struct {
		name               string
		prev, next         Input
		wantParams         map[string]bool // parameter → kept
		wantKeys           map[string]int  // user → keys left
		wantLockOfPrevKept bool
	}{
		{"rotation_token changed", Input{UserName: "u1"}, Input{UserName: "u1"},
			map[string]bool{"/keyrotor/u1": true}, map[string]int{"u1": 1}, true},
		{"parameter renamed", Input{UserName: "u2"}, Input{UserName: "u2", ParameterName: "/keyrotor/u2/v2"},
			map[string]bool{"/keyrotor/u2": false, "/keyrotor/u2/v2": true}, map[string]int{"u2": 1}, false},
		{"user changed", Input{UserName: "u3"}, Input{UserName: "u3-new"},
			map[string]bool{"/keyrotor/u3": false, "/keyrotor/u3-new": true}, map[string]int{"u3": 0, "u3-new": 1}, false},
		{"user changed, parameter kept", Input{UserName: "u4", ParameterName: "/keyrotor/shared"}, Input{UserName: "u4-new", ParameterName: "/keyrotor/shared"},
			map[string]bool{"/keyrotor/shared": true}, map[string]int{"u4": 0, "u4-new": 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, u := range []string{tt.prev.UserName, tt.next.UserName} {
				if _, err := iamc.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(u)}); err == nil {
					continue
				}
				if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(u), Tags: managedTag}); err != nil {
					t.Fatal(err)
				}
				if _, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(u)}); err != nil {
					t.Fatal(err)
				}
			}
			prev, next := defaults(tt.prev), defaults(tt.next)
			for _, name := range []string{prev.ParameterName, prev.ParameterName + ".lock", next.ParameterName} {
				if _, err := ssmc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true)}); err != nil {
					t.Fatal(err)
				}
			}
			ownedBy(ctx, t, ssmc, next.ParameterName, next.UserName)
			ownedBy(ctx, t, ssmc, prev.ParameterName, prev.UserName)
			ex := &scriptedExecutions{statuses: []execution{{status: sfntypes.ExecutionStatusSucceeded, output: doc("AKIANEW", "2026-11-24T12:00:00Z")}}}
			tr := newTrigger(ex, &bytes.Buffer{})
			tr.IAM, tr.SSM = iamc, ssmc
			prevEvent, _ := json.Marshal(TriggerEvent{Rotation: tt.prev})
			res, err := tr.Handle(ctx, TriggerEvent{Rotation: tt.next, TF: &TF{Action: "update", PrevInput: prevEvent}})
			if err != nil {
				t.Fatal(err)
			}
			if res.ParameterName != next.ParameterName || res.AccessKeyID != "AKIANEW" {
				t.Errorf("result %+v", res)
			}
			want := maps.Clone(tt.wantParams)
			want[prev.ParameterName+".lock"] = tt.wantLockOfPrevKept
			for name, kept := range want {
				_, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name)})
				if got := err == nil; got != kept {
					t.Errorf("parameter %s kept = %v, want %v", name, got, kept)
				}
			}
			for user, n := range tt.wantKeys {
				keys, err := iamc.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
				if err != nil || len(keys.AccessKeyMetadata) != n {
					t.Errorf("user %s has %v keys (%v), want %d", user, keys, err, n)
				}
			}
		})
	}
}

// defaults gives in the trigger's default parameter name (prefix /keyrotor/).
func defaults(in Input) Input {
	if in.ParameterName == "" {
		in.ParameterName = "/keyrotor/" + in.UserName
	}
	return in
}

// VerifyKey's output is internal/rotation's document; the trigger reads it by those names.
func TestTriggerVerifiedKeyReadsTheRotationDocument(t *testing.T) {
	tests := []struct {
		name string
		doc  Rotation
		want string
	}{
		{"verified", Rotation{Input: Input{UserName: "s3-signer"}, NewAccessKeyID: "AKIANEW", SealedSecret: sealedMarker, VerifiedAt: "2026-11-24T12:00:00Z"}, "AKIANEW"},
		{"stored, not yet verified", Rotation{Input: Input{UserName: "s3-signer"}, NewAccessKeyID: "AKIANEW", SealedSecret: sealedMarker}, ""},
		{"rolled back", Rotation{Input: Input{UserName: "s3-signer"}, NewAccessKeyID: "AKIANEW", Failure: &Failure{Error: "VerificationFailed"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			if got := verifiedKey(string(b)); got != tt.want {
				t.Fatalf("verifiedKey = %q, want %q", got, tt.want)
			}
		})
	}
}

// ownedBy makes name a keyrotor parameter whose ownership record names user, as StoreParameter
// leaves it (Description "keyrotor:<id>", tag keyrotor:owner-user).
func ownedBy(ctx context.Context, t *testing.T, ssmc *ssm.Client, name, user string) {
	t.Helper()
	if _, err := ssmc.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(`{"AccessKeyId":"AKIAOLD","SecretAccessKey":"y"}`),
		Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true), Description: aws.String("keyrotor:AKIAOLD")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ssmc.AddTagsToResource(ctx, &ssm.AddTagsToResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String(name),
		Tags: []ssmtypes.Tag{{Key: aws.String(OwnerUserTagKey), Value: aws.String(user)}}}); err != nil {
		t.Fatal(err)
	}
}
