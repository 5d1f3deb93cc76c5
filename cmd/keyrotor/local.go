package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/spf13/cobra"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/internal/schedule"
	"github.com/keyrotor/keyrotor/localaws/lambdahost"
)

func newLocalCmd(stdout, stderr io.Writer) *cobra.Command {
	local := &cobra.Command{
		Use:   "local",
		Short: "Run keyrotor's engine on this machine (moto as AWS, the real Lambdas and state machine)",
		Long: `'keyrotor local up' runs the whole engine on this machine with no AWS account: moto plays IAM,
STS, SSM and KMS (SigV4 and IAM authorization on), the real Lambda bootstraps run each under its
own role, and the real state machine definitions run in keyrotor's local Step Functions. It
prints the variables to export so that keyrotor, the AWS CLI and the SDKs use it, and says
where it differs from a deployed engine on purpose. Nothing reaches AWS.`,
		Example: `  keyrotor local up --user s3-signer
  keyrotor local up --user s3-signer --propagation-delay 2s --logs
  keyrotor local up --accounts 1 --user s3-signer --user-account 111111111111`,
		// Runnable, so that an unknown subcommand is refused (exit 2) rather than answered
		// with help.
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var (
		expr, user, delay, grace, inactive string
		userAccount                        string
		build, logs                        bool
		accounts                           int
	)
	up := &cobra.Command{
		Use:   "up",
		Short: "Start the local engine and print the environment to export; Ctrl-C stops it",
		Long: `Starts moto (IAM, STS, SSM, KMS with authorization on) behind the fault proxy, deploys the built
Lambda bootstraps (build/host/<fn>/bootstrap, from 'make build') each with its own role's
credentials, and serves the Step Functions and Lambda APIs with statemachine/rotate.asl.json
deployed as keyrotor-rotate. It prints the variables to export so that keyrotor, the AWS CLI
and the SDKs use it.

--user creates that IAM user (tagged keyrotor:managed=true, with one key) unless it exists;
--schedule then starts a rotation of it at each fire time of an EventBridge Scheduler
expression: rate(5 minutes), cron(0 3 * * ? *), at(2030-01-01T00:00:00), with --grace and
--inactive as the managed-key module's grace_seconds and inactive_seconds.

--accounts N adds N member accounts (111111111111, 222222222222, …), each with the
keyrotor-target role the engine's functions assume (with the engine's external id) and the
member KMS key alias/keyrotor-member, as infra/modules/member-account creates them, and an
OrganizationAccountAccessRole that the printed credentials may assume (keyrotor --account);
--user-account creates --user in one of them instead of the engine's account.

--user is created under the deployed engine's managed_user_path (/keyrotor/ by default), as a
deployed engine requires.`,
		Example: `  keyrotor local up --user s3-signer
  keyrotor local up --user s3-signer --schedule 'rate(5 minutes)' --grace 30s --inactive 1m
  keyrotor local up --accounts 2 --user s3-signer --user-account 222222222222`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var sched schedule.Schedule
			if expr != "" {
				if user == "" {
					return usagef("--schedule needs --user: the managed user to rotate on that schedule")
				}
				var err error
				if sched, err = schedule.Parse(expr, nil); err != nil {
					return usagef("--schedule: %v", err)
				}
			}
			if user != "" {
				if err := checkUser(user); err != nil {
					return err
				}
			}
			propagation, err := parseDelay(delay)
			if err != nil {
				return err
			}
			in := rotation.Input{UserName: user}
			if grace != "" {
				n, err := parseSeconds("grace", grace, rotation.MaxGraceSeconds)
				if err != nil {
					return err
				}
				in.GraceSeconds = &n
			}
			if inactive != "" {
				n, err := parseSeconds("inactive", inactive, rotation.MaxInactiveSeconds)
				if err != nil {
					return err
				}
				in.InactiveSeconds = &n
			}
			if accounts < 0 || accounts > 20 {
				return usagef("--accounts %d: want 0 to 20 member accounts", accounts)
			}
			if userAccount != "" {
				if user == "" {
					return usagef("--user-account needs --user: the user to create in that member account")
				}
				if err := (accountFlags{account: userAccount}).check(); err != nil {
					return err
				}
				var ids []string
				for i := range accounts {
					ids = append(ids, localenv.MemberAccountID(i))
				}
				if !slices.Contains(ids, userAccount) {
					return usagef("--user-account %s is not one of the %d member accounts --accounts creates (%s); raise --accounts", userAccount, accounts, strings.Join(ids, ", "))
				}
				in.AccountID = userAccount
			}
			return localUp(cmd.Context(), stdout, stderr, upOptions{input: in, sched: sched, build: build, logs: logs, propagation: propagation, accounts: accounts})
		},
	}
	fl := up.Flags()
	fl.StringVar(&expr, "schedule", "", "rotate --user on this EventBridge Scheduler expression")
	fl.StringVar(&user, "user", "", "managed IAM user to create (if missing) and to rotate on --schedule")
	fl.StringVar(&grace, "grace", "", "grace wait of the scheduled rotations (default 1h)")
	fl.StringVar(&inactive, "inactive", "", "inactive wait of the scheduled rotations (default 1d)")
	fl.StringVar(&delay, "propagation-delay", "0s", "new keys fail authentication this long, as while IAM propagates")
	fl.BoolVar(&build, "build", false, "build the Lambda bootstraps first (otherwise run 'make build')")
	fl.BoolVar(&logs, "logs", false, "print the functions' log lines (JSON) on stderr")
	fl.IntVar(&accounts, "accounts", 0, "member accounts to create besides the engine's own (each with keyrotor-target and its KMS key)")
	fl.StringVar(&userAccount, "user-account", "", "create --user in this member account (one of --accounts) instead of the engine's")
	local.AddCommand(up)
	return local
}

func parseDelay(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > 10*time.Minute {
		return 0, usagef("--propagation-delay %q: want a duration between 0s and 10m, e.g. 2s", s)
	}
	return d, nil
}

type upOptions struct {
	input       rotation.Input // the scheduled rotations' input; UserName "" for no user
	sched       schedule.Schedule
	build, logs bool
	propagation time.Duration
	accounts    int
}

func localUp(ctx context.Context, stdout, stderr io.Writer, o upOptions) error {
	opts := localenv.Options{Build: o.build, PropagationDelay: o.propagation, Accounts: o.accounts}
	if o.logs {
		opts.LogSink = lambdahost.LogTo(slog.New(slog.NewJSONHandler(stderr, nil)))
		opts.Logger = slog.New(slog.NewJSONHandler(stderr, nil))
	}
	fmt.Fprintln(stderr, "starting the local keyrotor engine…")
	env, err := localenv.Up(ctx, opts)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "stopped before the engine was up")
			return nil
		}
		return err
	}
	defer env.Close()
	defaults, err := deployed.ReadDefaults(env.Engine.Root)
	if err != nil {
		return err
	}
	if user := o.input.UserName; user != "" {
		exists, err := env.UserExistsIn(ctx, o.input.AccountID, user)
		if err != nil {
			return err
		}
		if !exists {
			if _, err := env.CreateManagedUser(ctx, localenv.ManagedUser{Name: user, Keys: 1, Account: o.input.AccountID, Path: defaults.ManagedUserPath}); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "created IAM user %s%s%s (tagged keyrotor:managed=true, one access key)\n", defaults.ManagedUserPath, user, inAccount(o.input.AccountID))
		}
	}
	printUp(stdout, env, defaults)
	printDifferences(stdout, env, defaults)
	if o.sched != nil {
		go runSchedule(ctx, stdout, env, o.sched, o.input)
	}
	<-ctx.Done()
	fmt.Fprintln(stderr, "\nstopping the local keyrotor engine…")
	return nil
}

func printUp(w io.Writer, env *localenv.Env, d deployed.Defaults) {
	fmt.Fprintf(w, "keyrotor local engine is up\n")
	fmt.Fprintf(w, "  AWS (moto, through the fault proxy)  %s\n", env.AWSEndpoint)
	fmt.Fprintf(w, "  Step Functions and Lambda            %s\n", env.Endpoint)
	fmt.Fprintf(w, "  state machine                        %s\n", env.StateMachineARN)
	fmt.Fprintf(w, "  fleet state machine                  %s\n", env.FleetStateMachineARN())
	fmt.Fprintf(w, "  KMS key                              %s\n", env.KMSKeyARN)
	for _, m := range env.Members {
		fmt.Fprintf(w, "  member account %s          role %s, key %s\n", m.AccountID, m.TargetRoleARN, m.KMSKeyARN)
	}
	fmt.Fprintf(w, "Use it from another shell (local moto credentials, not AWS ones):\n")
	fmt.Fprintf(w, "export %s\n", strings.Join(env.Environ(), " "))
	fmt.Fprintf(w, "then: keyrotor rotate --user USER --wait   (create a managed user with\n")
	fmt.Fprintf(w, "  aws iam create-user --user-name USER --path %s --tags Key=%s,Value=%s)\n", d.ManagedUserPath, rotation.ManagedTagKey, rotation.ManagedTagValue)
	if len(env.Members) > 0 {
		fmt.Fprintf(w, "a member account's user: keyrotor rotate --account %s --user USER --wait\n", env.Members[0].AccountID)
	}
	fmt.Fprintf(w, "Press Ctrl-C to stop.\n")
}

// printDifferences says where the local engine differs from a deployed one with the engine
// module's defaults, and why.
func printDifferences(w io.Writer, env *localenv.Env, d deployed.Defaults) {
	fnEnv := env.FunctionEnv("createkey")
	fmt.Fprintf(w, "Where this local engine differs from a deployed one on purpose:\n")
	fmt.Fprintf(w, "  wait floors   %ss grace, %ss inactive (deployed: min_grace_seconds %d, min_inactive_seconds %d), so that rotations with waits of seconds can be tried\n",
		fnEnv[rotation.EnvMinGraceSeconds], fnEnv[rotation.EnvMinInactiveSeconds], d.MinGraceSeconds, d.MinInactiveSeconds)
	fmt.Fprintf(w, "  user path     users under %s are rotated (deployed: managed_user_path %s; moto matches every IAM resource as *, so a deployed engine refuses a user outside it that this one accepts)\n",
		env.Engine.UserPath, d.ManagedUserPath)
	fmt.Fprintf(w, "  waits         unset --grace/--inactive default to %ds and %ds, as deployed; pass short ones here (--grace 5s --inactive 5s)\n",
		d.GraceSeconds, d.InactiveSeconds)
}

// runSchedule starts a rotation with input at each fire time, as the deployed EventBridge
// Scheduler schedule would, and reports how each ended.
func runSchedule(ctx context.Context, w io.Writer, env *localenv.Env, s schedule.Schedule, input rotation.Input) {
	client := env.SFN()
	user := input.UserName
	now := time.Now()
	for {
		next, ok := s.Next(now)
		if !ok {
			fmt.Fprintf(w, "schedule %s has no more fire times\n", s)
			return
		}
		fmt.Fprintf(w, "schedule %s: next rotation of %s at %s\n", s, user, next.UTC().Format(time.RFC3339))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		now = next
		arn, err := startRotation(ctx, client, env.StateMachineARN, input)
		if err != nil {
			fmt.Fprintf(w, "schedule %s: %v\n", s, err)
			continue
		}
		fmt.Fprintf(w, "schedule %s: started %s\n", s, arn)
		go reportScheduled(ctx, w, client, arn)
	}
}

func reportScheduled(ctx context.Context, w io.Writer, client *sfn.Client, arn string) {
	t, err := follow(ctx, client, arn, nil)
	if err != nil {
		return
	}
	if t.Status == "SUCCEEDED" {
		o := parseOutput(t.Output)
		fmt.Fprintf(w, "rotation %s succeeded: new access key %s in %s\n", arn, o.NewAccessKeyID, o.ParameterName)
		return
	}
	fmt.Fprintf(w, "rotation %s %s: %s: %s\n", arn, strings.ToLower(t.Status), t.Error, t.Cause)
}
