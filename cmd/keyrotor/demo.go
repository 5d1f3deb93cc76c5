package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"

	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// demoReport is `keyrotor demo --json`. No field can hold a secret.
type demoReport struct {
	Status               string      `json:"status"`
	User                 string      `json:"user"`
	UserARN              string      `json:"user_arn"`
	Parameter            string      `json:"parameter"`
	ParameterVersion     int64       `json:"parameter_version"`
	ExecutionARN         string      `json:"execution_arn"`
	OldAccessKeyIDs      []string    `json:"old_access_key_ids"`
	NewAccessKeyID       string      `json:"new_access_key_id"`
	DeletedAccessKeyIDs  []string    `json:"deleted_access_key_ids"`
	RemainingAccessKeys  []demoKey   `json:"remaining_access_keys"`
	ConsumerIdentityARN  string      `json:"consumer_identity_arn"`
	States               []*stateRun `json:"states"`
	Transitions          int         `json:"transitions"`
	LambdaInvocations    int         `json:"lambda_invocations"`
	STSCalls             int         `json:"sts_calls"`
	GraceSeconds         int         `json:"grace_seconds"`
	InactiveSeconds      int         `json:"inactive_seconds"`
	PropagationDelaySecs float64     `json:"propagation_delay_seconds"`
	VerifySeconds        float64     `json:"verify_seconds"`
	RotationSeconds      float64     `json:"rotation_seconds"`
	SetupSeconds         float64     `json:"setup_seconds"`
	DurationSeconds      float64     `json:"duration_seconds"`
	Error                string      `json:"error,omitempty"`
	Cause                string      `json:"cause,omitempty"`
}

// demoKey is one of the user's keys after the rotation.
type demoKey struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

type demoFlags struct {
	json, build           bool
	user, grace, inactive string
	delay                 string
}

func newDemoCmd(stdout, stderr io.Writer) *cobra.Command {
	var f demoFlags
	cmd := &cobra.Command{
		Use: "demo [--json]",
		Example: `  keyrotor demo
  keyrotor demo --propagation-delay 2s --grace 3s
  keyrotor demo --json | jq .verify_seconds`,
		Short: "Start the local engine, rotate a demo user's key once, check it, stop everything",
		Long: `Starts the local engine (as 'keyrotor local up'), creates the IAM user demo-signer tagged
keyrotor:managed=true with an old key stored in /keyrotor/demo-signer, rotates it with short
waits, checks the new key as a consumer would (read the parameter, sts:GetCallerIdentity) and
that the old key is gone, then stops everything. --json prints one JSON object instead.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkUser(f.user); err != nil {
				return err
			}
			grace, err := parseSeconds("grace", f.grace, rotation.MaxGraceSeconds)
			if err != nil {
				return err
			}
			inactive, err := parseSeconds("inactive", f.inactive, rotation.MaxInactiveSeconds)
			if err != nil {
				return err
			}
			delay, err := parseDelay(f.delay)
			if err != nil {
				return err
			}
			return demo(cmd.Context(), stdout, stderr, f, grace, inactive, delay)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.json, "json", false, "print one JSON object with the figures of the run")
	fl.BoolVar(&f.build, "build", false, "build the Lambda bootstraps first (otherwise run 'make build')")
	fl.StringVar(&f.user, "user", "demo-signer", "name of the demo user")
	fl.StringVar(&f.grace, "grace", "1s", "grace wait of the rotation")
	fl.StringVar(&f.inactive, "inactive", "1s", "inactive wait of the rotation")
	fl.StringVar(&f.delay, "propagation-delay", "0s", "new keys fail authentication this long, as while IAM propagates")
	return cmd
}

func demo(ctx context.Context, stdout, stderr io.Writer, f demoFlags, grace, inactive int, delay time.Duration) error {
	start := time.Now()
	say := func(format string, args ...any) {
		if !f.json {
			fmt.Fprintf(stdout, format+"\n", args...)
		}
	}
	r := &demoReport{
		Status: "FAILED", User: f.user, Parameter: rotation.DefaultParameterPrefix + f.user,
		GraceSeconds: grace, InactiveSeconds: inactive, PropagationDelaySecs: delay.Seconds(),
		VerifySeconds: -1,
	}
	say("keyrotor demo: one real rotation on this machine (moto plays AWS; the real Lambda binaries and state machine run)")
	env, err := localenv.Up(ctx, localenv.Options{Build: f.build, PropagationDelay: delay})
	if err != nil {
		return err
	}
	runErr := demoRotation(ctx, stdout, env, r, start, f.json, say)
	if err := env.Close(); err != nil && runErr == nil {
		runErr = err
	}
	r.DurationSeconds = roundSeconds(time.Since(start).Seconds())
	if f.json {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else if runErr == nil {
		say("engine stopped; the demo took %.1fs", r.DurationSeconds)
	}
	return runErr
}

// demoRotation runs the demo against a started engine and fills r.
// Setup (engine and user) is timed from start.
func demoRotation(ctx context.Context, stdout io.Writer, env *localenv.Env, r *demoReport, start time.Time, quiet bool, say func(string, ...any)) error {
	say("engine up: AWS (moto) at %s, Step Functions and Lambda at %s", env.AWSEndpoint, env.Endpoint)
	old, err := env.CreateManagedUser(ctx, localenv.ManagedUser{Name: r.User, Keys: 1, Parameter: r.Parameter})
	if err != nil {
		return err
	}
	r.OldAccessKeyIDs = old
	r.SetupSeconds = roundSeconds(time.Since(start).Seconds())
	say("created IAM user %s (tagged %s=%s) with access key %s, stored in %s", r.User, rotation.ManagedTagKey, rotation.ManagedTagValue, old[0], r.Parameter)
	say("rotating: keyrotor rotate --user %s --grace %ds --inactive %ds --wait", r.User, r.GraceSeconds, r.InactiveSeconds)

	client := env.SFN()
	grace, inactive := r.GraceSeconds, r.InactiveSeconds
	arn, err := startRotation(ctx, client, env.StateMachineARN, rotation.Input{
		UserName: r.User, ParameterName: r.Parameter, GraceSeconds: &grace, InactiveSeconds: &inactive,
	})
	if err != nil {
		return err
	}
	r.ExecutionARN = arn
	say("started %s", arn)
	var update func(*timeline)
	if !quiet {
		update = newProgress(stdout, waitSeconds(ctx, client, arn)).update
	}
	t, err := follow(ctx, client, arn, update)
	if err != nil {
		return err
	}
	r.States, r.Transitions, r.LambdaInvocations = t.Runs, t.transitions(), t.Invocations
	for _, s := range r.States {
		s.Seconds = roundSeconds(s.Seconds)
	}
	r.RotationSeconds = roundSeconds(t.Stopped.Sub(t.Started).Seconds())
	r.VerifySeconds = roundSeconds(t.verifySeconds())
	if t.Status != "SUCCEEDED" {
		r.Status, r.Error, r.Cause = t.Status, t.Error, t.Cause
		return &failedError{msg: fmt.Sprintf("the demo rotation ended %s: %s\n%s", t.Status, t.Error, t.Cause)}
	}
	o := parseOutput(t.Output)
	r.NewAccessKeyID, r.ParameterVersion, r.DeletedAccessKeyIDs, r.STSCalls = o.NewAccessKeyID, o.ParameterVersion, o.DeletedAccessKeyIDs, o.STSCalls
	if !quiet {
		if err := reportEnd(stdout, t, r.OldAccessKeyIDs); err != nil {
			return err
		}
	}

	// Check the result as its consumer and its owner would.
	if r.ConsumerIdentityARN, r.UserARN, err = consumerCheck(ctx, env, r.Parameter, r.User); err != nil {
		return err
	}
	if r.ConsumerIdentityARN != r.UserARN {
		return &failedError{msg: fmt.Sprintf("the key in %s authenticates as %s, not as %s", r.Parameter, r.ConsumerIdentityARN, r.UserARN)}
	}
	say("consumer check: the key read from %s signs sts:GetCallerIdentity as %s", r.Parameter, r.ConsumerIdentityARN)
	keys, err := iam.NewFromConfig(env.AdminConfig()).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(r.User)})
	if err != nil {
		return fmt.Errorf("list the keys of %s: %w", r.User, err)
	}
	var remaining []string
	for _, k := range keys.AccessKeyMetadata {
		key := demoKey{ID: aws.ToString(k.AccessKeyId), Status: string(k.Status)}
		r.RemainingAccessKeys = append(r.RemainingAccessKeys, key)
		remaining = append(remaining, key.ID+" ("+key.Status+")")
		if slices.Contains(old, key.ID) {
			return &failedError{msg: fmt.Sprintf("old key %s still exists after the rotation", key.ID)}
		}
	}
	say("old key %s is gone; %s now has: %s", strings.Join(old, ", "), r.User, strings.Join(remaining, ", "))
	r.Status = "SUCCEEDED"
	return nil
}

// consumerCheck reads the parameter as the s3-signer example's consumer does and calls
// sts:GetCallerIdentity with the key in it. The secret stays in this function's memory.
func consumerCheck(ctx context.Context, env *localenv.Env, parameter, user string) (identity, userARN string, err error) {
	cfg := env.AdminConfig()
	p, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(parameter), WithDecryption: aws.Bool(true)})
	if err != nil {
		return "", "", fmt.Errorf("read %s as a consumer: %w", parameter, err)
	}
	var key struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(aws.ToString(p.Parameter.Value)), &key); err != nil || key.AccessKeyId == "" {
		return "", "", fmt.Errorf("parameter %s does not hold a JSON access key", parameter)
	}
	who, err := sts.NewFromConfig(motoserver.Config(env.AWSEndpoint, aws.Credentials{
		AccessKeyID: key.AccessKeyId, SecretAccessKey: key.SecretAccessKey,
	})).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", "", fmt.Errorf("sts:GetCallerIdentity with key %s from %s: %w", key.AccessKeyId, parameter, err)
	}
	u, err := iam.NewFromConfig(cfg).GetUser(ctx, &iam.GetUserInput{UserName: aws.String(user)})
	if err != nil {
		return "", "", fmt.Errorf("read user %s: %w", user, err)
	}
	return aws.ToString(who.Arn), aws.ToString(u.User.Arn), nil
}

func roundSeconds(s float64) float64 {
	if s < 0 {
		return s
	}
	return float64(int64(s*1000+0.5)) / 1000
}
