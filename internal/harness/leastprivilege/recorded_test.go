package leastprivilege

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/fleet"
	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// recording runs keyrotor's real steps and trigger against moto behind the fault proxy, each
// function signed with its own key, so that the proxy's record says which function made which
// call.
type recording struct {
	t       *testing.T
	ctx     context.Context
	proxy   *faultproxy.Proxy
	admin   aws.Config
	conf    rotation.Config
	steps   map[string]*rotation.Steps
	keyOf   map[string]string // access key id → function
	creds   map[string]aws.Credentials
	machine string
	pending map[string]string // executions named, not yet started: ARN → name
}

func startRecording(t *testing.T) (*recording, func()) {
	t.Helper()
	ctx := context.Background()
	srv := testutil.Moto(t, motoserver.Options{Auth: true})
	proxy, err := faultproxy.Start(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	stop := proxy.Close
	r := &recording{t: t, ctx: ctx, proxy: proxy, pending: map[string]string{}, admin: motoserver.Config(proxy.URL, srv.Admin),
		steps: map[string]*rotation.Steps{}, keyOf: map[string]string{}, creds: map[string]aws.Credentials{}}
	engine, err := testutil.CreateEngineStandIns(ctx, r.admin)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	r.machine = engine.StateMachineARN
	r.conf = rotation.Config{KMSKeyID: engine.KMSKeyID, ParameterPrefix: "/keyrotor/", PropagationWindow: time.Minute}
	logs := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for _, fn := range deployed.Functions {
		// moto checks only actions; the policies under test are evaluated exactly afterwards.
		creds := r.user("fn-"+fn, false, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
		r.keyOf[creds.AccessKeyID], r.creds[fn] = fn, creds
		r.steps[fn] = rotation.NewSteps(motoserver.Config(proxy.URL, creds), r.conf, logs)
	}
	return r, stop
}

// user creates an IAM user (tagged keyrotor:managed=true when managed) and returns a key.
func (r *recording) user(name string, managed bool, policy string) aws.Credentials {
	r.t.Helper()
	client := iam.NewFromConfig(r.admin)
	in := &iam.CreateUserInput{UserName: aws.String(name)}
	if managed {
		in.Tags = []iamtypes.Tag{testutil.ManagedTag}
	}
	if _, err := client.CreateUser(r.ctx, in); err != nil {
		r.t.Fatal(err)
	}
	if policy != "" {
		if _, err := client.PutUserPolicy(r.ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("p"), PolicyDocument: aws.String(policy)}); err != nil {
			r.t.Fatal(err)
		}
	}
	out, err := client.CreateAccessKey(r.ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		r.t.Fatal(err)
	}
	return aws.Credentials{AccessKeyID: aws.ToString(out.AccessKey.AccessKeyId), SecretAccessKey: aws.ToString(out.AccessKey.SecretAccessKey)}
}

// execution names an execution of moto's (forever RUNNING) machine; run starts it, as Step
// Functions starts a rotation, with the input its begin receives.
func (r *recording) execution() string {
	r.t.Helper()
	name := fmt.Sprintf("e%d", time.Now().UnixNano())
	arn := strings.Replace(r.machine, ":stateMachine:", ":execution:", 1) + ":" + name
	r.pending[arn] = name
	return arn
}

// run runs the actions in order, each by the function that serves it.
func (r *recording) run(exec string, doc rotation.Rotation, actions ...string) rotation.Rotation {
	r.t.Helper()
	if name, ok := r.pending[exec]; ok {
		delete(r.pending, exec)
		input, _ := json.Marshal(doc)
		if _, err := sfn.NewFromConfig(r.admin).StartExecution(r.ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(r.machine),
			Name: aws.String(name), Input: aws.String(string(input))}); err != nil {
			r.t.Fatal(err)
		}
	}
	for _, action := range actions {
		fn := functionOf[action]
		// Through the dispatcher, as the Lambda serves it: it also publishes the outcome event.
		out, err := r.steps[fn].Dispatch(action)(r.ctx, rotation.Request{Action: action, ExecutionID: exec, Rotation: doc})
		if err != nil {
			r.t.Fatalf("%s (%s): %v", action, fn, err)
		}
		doc = out
	}
	return doc
}

// functionOf says which function serves each action (docs/steps.md).
var functionOf = map[string]string{
	"begin": "createkey", "create": "createkey", "store": "storeparam", "restore": "storeparam",
	"verify": "verifykey", "deactivate": "deleteoldkeys", "delete": "deleteoldkeys",
	"rollback": "deleteoldkeys", "release": "deleteoldkeys",
}

func TestRecordedCallsOfRealRotationsAreAllowedAndNeedEveryStatement(t *testing.T) {
	r, stop := startRecording(t)
	defer stop()
	ctx := r.ctx

	// signer: two keys (one inactive, deleted to make room), its parameter written by an
	// earlier rotation, and a stale lock left by a stopped execution.
	signerKey := r.user("s3-signer", true, "")
	iamc := iam.NewFromConfig(r.admin)
	spare, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("s3-signer")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iamc.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("s3-signer"), AccessKeyId: spare.AccessKey.AccessKeyId, Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	value, _ := json.Marshal(map[string]string{"AccessKeyId": signerKey.AccessKeyID, "SecretAccessKey": signerKey.SecretAccessKey})
	if _, err := ssm.NewFromConfig(r.admin).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(parameter), Value: aws.String(string(value)), Type: ssmtypes.ParameterTypeSecureString,
		KeyId: aws.String(r.conf.KMSKeyID), Description: aws.String("keyrotor:" + signerKey.AccessKeyID),
	}); err != nil {
		t.Fatal(err)
	}
	r.proxy.ResetCalls()

	stale := r.execution()
	r.run(stale, rotation.Rotation{Input: rotation.Input{UserName: "s3-signer"}}, "begin")
	if _, err := sfn.NewFromConfig(r.admin).StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(stale)}); err != nil {
		t.Fatal(err)
	}
	zero := 0
	// A whole rotation, then one rolled back after StoreParameter, then one released early.
	r.run(r.execution(), rotation.Rotation{Input: rotation.Input{UserName: "s3-signer", GraceSeconds: &zero, InactiveSeconds: &zero}},
		"begin", "create", "store", "verify", "deactivate", "delete")
	r.run(r.execution(), rotation.Rotation{Input: rotation.Input{UserName: "s3-signer"}}, "begin", "create", "store", "restore", "rollback")
	exec := r.execution()
	r.run(exec, r.run(exec, rotation.Rotation{Input: rotation.Input{UserName: "s3-signer"}}, "begin"), "release")
	// fresh: a first rotation rolled back, so restore deletes the parameter it created.
	r.user("fresh", true, "")
	r.run(r.execution(), rotation.Rotation{Input: rotation.Input{UserName: "fresh"}}, "begin", "create", "store", "restore", "rollback")

	// A refused Begin (the user did not opt in) publishes its outcome from createkey.
	r.user("unmanaged", false, "")
	refusedExec := r.execution()
	delete(r.pending, refusedExec) // never started: Begin refuses before it asks for the execution
	if _, err := r.steps["createkey"].Dispatch("begin")(ctx, rotation.Request{Action: "begin", ExecutionID: refusedExec,
		Rotation: rotation.Rotation{Input: rotation.Input{UserName: "unmanaged"}}}); rotation.ErrorName(err) != rotation.UserNotManaged {
		t.Fatalf("begin for an unmanaged user: %v, want %s", err, rotation.UserNotManaged)
	}

	// fresh's next rotation holds the lock (moto keeps its execution RUNNING, as in a grace period).
	holder := r.execution()
	r.run(holder, rotation.Rotation{Input: rotation.Input{UserName: "fresh"}}, "begin")

	// The trigger: start (moto never runs the machine, so it gives up at its deadline), then
	// destroy fresh's keys and parameter, stopping the rotation that holds its lock first.
	tc := motoserver.Config(r.proxy.URL, r.creds["trigger"])
	trig := &rotation.Trigger{StateMachineARN: r.machine, ParameterPrefix: "/keyrotor/", Executions: sfn.NewFromConfig(tc),
		IAM: iam.NewFromConfig(tc), SSM: ssm.NewFromConfig(tc), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		PollInterval: time.Millisecond, MaxPollInterval: time.Millisecond, DeadlineMargin: time.Hour}
	deadline, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var still *rotation.Error
	if _, err := trig.Handle(deadline, rotation.TriggerEvent{Rotation: rotation.Input{UserName: "s3-signer"}}); !errors.As(err, &still) || still.Name != rotation.RotationStillRunning {
		t.Fatalf("trigger create on moto: %v, want %s", err, rotation.RotationStillRunning)
	}
	if _, err := trig.Handle(ctx, rotation.TriggerEvent{Rotation: rotation.Input{UserName: "fresh"}, TF: &rotation.TF{Action: "delete"}}); err != nil {
		t.Fatal(err)
	}
	if d, err := sfn.NewFromConfig(r.admin).DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(holder)}); err != nil || d.Status != sfntypes.ExecutionStatusAborted {
		t.Fatalf("the lock holder after destroy: %v %v, want ABORTED", d, err)
	}
	// Destroy s3-signer, whose parameter exists: the trigger reads its ownership record first.
	if _, err := trig.Handle(ctx, rotation.TriggerEvent{Rotation: rotation.Input{UserName: "s3-signer"}, TF: &rotation.TF{Action: "delete"}}); err != nil {
		t.Fatal(err)
	}

	// The fleet's listing, page by page: the managed users, not the functions' own users. (Its
	// users object goes to an in-memory store: the recorded calls are IAM's; the S3 object
	// calls are held to the fleet bucket by the request table of leastprivilege_test.go.)
	f := newFixtureWith(t, func(e *deployed.Engine) {
		e.Region, e.AccountID, e.KMSKeyID = motoserver.Region, motoserver.AccountID, r.conf.KMSKeyID
	})
	store := sfnlocal.NewMemoryObjects()
	lister := &fleet.Lister{IAM: iam.NewFromConfig(motoserver.Config(r.proxy.URL, r.creds["listusers"])), S3: store, Bucket: f.engine.FleetBucket(), UserPath: "/", PageSize: 2}
	lreq := fleet.ListRequest{Action: "list", ExecutionID: "fleet-1"}
	var st fleet.State
	for {
		var err error
		if st, err = lister.List(ctx, lreq); err != nil {
			t.Fatal(err)
		}
		if !st.Page.More {
			break
		}
		config, _ := json.Marshal(st.Config)
		lreq.Fleet, lreq.Page = config, &st.Page
	}
	var users []fleet.User
	object, _ := store.Get(st.Page.Bucket, st.Page.Key)
	if err := json.Unmarshal(object, &users); err != nil {
		t.Fatal(err)
	}
	// The summary reads the report the fleet's Map wrote (here: an empty one).
	ref := &fleet.ReportRef{MapRunArn: "arn:aws:states:us-east-1:123456789012:mapRun:keyrotor-rotate-fleet/rotations:1"}
	ref.ResultWriterDetails.Bucket, ref.ResultWriterDetails.Key = st.Page.Bucket, st.Page.ReportPrefix+"/1/manifest.json"
	store.Put(st.Page.Bucket, ref.ResultWriterDetails.Key, []byte(`{"ResultFiles":{}}`))
	if _, err := lister.Summarize(ctx, fleet.ListRequest{Action: "summarize", ExecutionID: "fleet-1", Page: &st.Page, Report: ref}); err != nil {
		t.Fatal(err)
	}
	// A fleet child's cut-over check of a running rotation (moto keeps it RUNNING): listusers
	// describes it and reads its newest history events.
	lister.Executions = sfn.NewFromConfig(motoserver.Config(r.proxy.URL, r.creds["listusers"]))
	running, err := sfn.NewFromConfig(r.admin).StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(r.machine),
		Name: aws.String("fleet-1-child"), Input: aws.String(`{"userName":"s3-signer"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := lister.CheckCutOver(ctx, fleet.ListRequest{Action: "cutover", ExecutionID: "fleet-1", Rotation: aws.ToString(running.ExecutionArn)}); err != nil || c.Status != fleet.CutOverRunning {
		t.Fatalf("cut-over check of a running rotation: %+v, %v, want %s", c, err, fleet.CutOverRunning)
	}
	var listed []string
	for _, u := range users {
		listed = append(listed, u.UserName)
	}
	if want := []string{"fresh", "s3-signer"}; !slices.Equal(slices.Sorted(slices.Values(listed)), want) {
		t.Errorf("listusers found %v, want the managed users %v", listed, want)
	}

	// With the engine's floors, deactivate measures the grace on the engine's clock: it reads
	// its execution's history (moto's is a fixed sample without VerifyKey, so the step is
	// refused; the call is what is recorded).
	r.user("floored", true, "")
	early := r.execution()
	doc := r.run(early, rotation.Rotation{Input: rotation.Input{UserName: "floored"}}, "begin", "create", "store", "verify")
	floors := r.conf
	floors.MinGraceSeconds, floors.MinInactiveSeconds = rotation.DefaultMinGraceSeconds, rotation.DefaultMinInactiveSeconds
	floored := rotation.NewSteps(motoserver.Config(r.proxy.URL, r.creds["deleteoldkeys"]), floors, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if _, err := floored.Dispatch("deactivate")(ctx, rotation.Request{Action: "deactivate", ExecutionID: early, Rotation: doc}); rotation.ErrorName(err) != rotation.NotAuthorized {
		t.Fatalf("deactivate with the default floors on moto's fixed history: %v, want %s", err, rotation.NotAuthorized)
	}

	var calls []Call
	byFunction := map[string]int{}
	for _, c := range r.proxy.Calls() {
		fn, ok := r.keyOf[c.AccessKeyID]
		if !ok {
			// Made with the admin key (setup) or with the new key itself (sts:GetCallerIdentity).
			if c.AccessKeyID != motoAdminKey(r) && c.Service+":"+c.Action != "sts:GetCallerIdentity" {
				t.Errorf("unexpected call %s:%s with key %s", c.Service, c.Action, c.AccessKeyID)
			}
			continue
		}
		cs, err := f.account.FromRequest(f.engine.RoleARN(fn), c.Service, c.Action, c.Params)
		if err != nil {
			t.Fatalf("recorded call %d (%s): %v", c.Seq, fn, err)
		}
		for i := range cs {
			cs[i].Note = strings.TrimSuffix(fn+", recorded; "+cs[i].Note, "; ")
		}
		calls = append(calls, cs...)
		byFunction[fn]++
	}
	for _, fn := range deployed.Functions {
		if byFunction[fn] == 0 {
			t.Errorf("no call of %s was recorded", fn)
		}
	}
	t.Logf("recorded calls per function: %v", byFunction)
	calls = append(calls, f.runtimeLogs()...)
	// listusers' S3 object calls, as the store saw them.
	calls = append(calls, f.calls(t, objectRequests(store, "listusers"))...)
	calls = append(calls, f.calls(t, []req{
		{"reader", "ssm", "GetParameter", map[string]any{"Name": parameter, "WithDecryption": true}},
		{"broadreader", "ssm", "GetParameter", map[string]any{"Name": otherParameter, "WithDecryption": true}},
		{"deployer", "kms", "DescribeKey", map[string]any{"KeyId": f.engine.KMSKeyARN()}},
	})...)
	assertAllowedAndEveryStatementNeeded(t, f, calls)
}

func motoAdminKey(r *recording) string {
	creds, err := r.admin.Credentials.Retrieve(r.ctx)
	if err != nil {
		return ""
	}
	return creds.AccessKeyID
}

// objectRequests are the calls made of store, as who's S3 requests.
func objectRequests(store *sfnlocal.MemoryObjects, who string) []req {
	var out []req
	for _, c := range store.Calls() {
		out = append(out, req{who, "s3", c.Action, map[string]any{"Bucket": c.Bucket, "Key": c.Key}})
	}
	return out
}
