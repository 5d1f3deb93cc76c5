package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
	"github.com/spf13/pflag"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// stateMachineName is the rotation state machine's name under infra/modules/engine's default
// name (and locally).
const stateMachineName = "keyrotor-rotate"

// envStateMachine names the rotation state machine when --state-machine is not given.
const envStateMachine = rotation.EnvStateMachineARN

// loadAWS reads the default credential chain; AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_SFN point
// it at a local engine (`keyrotor local up` prints them).
func loadAWS(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	// The SDK's only unsolicited log line is a connection-reuse warning after a closed idle
	// connection (aws/aws-sdk-go-v2#2737), noise in a CLI's output; errors are returned anyway.
	cfg.Logger = logging.Nop{}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("no AWS region is configured: set AWS_REGION (or a region in your AWS profile)")
	}
	// Fail here, in words, rather than deep in the first call with the credential chain's
	// last fallback (the EC2 instance metadata service) as the reason.
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return aws.Config{}, &hintedError{
			hint: "no AWS credentials found: set AWS_PROFILE (after aws sso login / aws configure) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; " +
				"or start `keyrotor local up` and run the export line it prints",
			err: err,
		}
	}
	return cfg, nil
}

// hintedError puts what to do before the AWS SDK's own text, which stays for the record.
type hintedError struct {
	hint string
	err  error
}

func (e *hintedError) Error() string {
	return e.hint + "\n  (AWS SDK: " + firstLine(e.err.Error()) + ")"
}
func (e *hintedError) Unwrap() error { return e.err }

// explainAWS adds what to do to the AWS failures a CLI user meets first: nothing listening
// at the endpoint, a role that may not be assumed, an account outside the organization.
func explainAWS(err error) error {
	var hinted *hintedError
	if errors.As(err, &hinted) {
		return err
	}
	var opErr *net.OpError
	if errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &opErr) && opErr.Op == "dial") {
		endpoint := os.Getenv("AWS_ENDPOINT_URL")
		if e := os.Getenv("AWS_ENDPOINT_URL_SFN"); e != "" {
			endpoint += ", " + e
		}
		if endpoint == "" {
			return &hintedError{hint: "could not connect to AWS: check your network or proxy settings", err: err}
		}
		return &hintedError{hint: "nothing answers at " + endpoint + " (AWS_ENDPOINT_URL…): is `keyrotor local up` still running? " +
			"Start it again and run the export line it prints, or unset AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_SFN to use AWS", err: err}
	}
	return err
}

// resolveStateMachine finds the rotation state machine: the flag, then
// KEYROTOR_STATE_MACHINE_ARN, then the one named keyrotor-rotate.
func resolveStateMachine(ctx context.Context, client *sfn.Client, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if env := os.Getenv(envStateMachine); env != "" {
		return env, nil
	}
	p := sfn.NewListStateMachinesPaginator(client, &sfn.ListStateMachinesInput{})
	var names []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("find the %s state machine (ListStateMachines): %w", stateMachineName, err)
		}
		for _, m := range page.StateMachines {
			if aws.ToString(m.Name) == stateMachineName {
				return aws.ToString(m.StateMachineArn), nil
			}
			names = append(names, aws.ToString(m.Name))
		}
	}
	return "", fmt.Errorf("no state machine named %s here (found: %v); deploy infra/modules/engine, "+
		"start `keyrotor local up` and export what it prints, or pass --state-machine ARN (or set %s)",
		stateMachineName, names, envStateMachine)
}

// fetchHistory returns the whole history, oldest first.
func fetchHistory(ctx context.Context, client *sfn.Client, arn string) ([]sfntypes.HistoryEvent, error) {
	var events []sfntypes.HistoryEvent
	p := sfn.NewGetExecutionHistoryPaginator(client, &sfn.GetExecutionHistoryInput{
		ExecutionArn: aws.String(arn), MaxResults: 1000,
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the history of %s: %w", arn, err)
		}
		events = append(events, page.Events...)
	}
	slices.SortFunc(events, func(a, b sfntypes.HistoryEvent) int { return int(a.Id - b.Id) })
	return events, nil
}

// follow polls the history until the execution ends, calling update after every poll.
func follow(ctx context.Context, client *sfn.Client, arn string, update func(*timeline)) (*timeline, error) {
	t := &timeline{}
	interval := 100 * time.Millisecond
	for {
		events, err := fetchHistory(ctx, client, arn)
		if err != nil {
			return t, err
		}
		before := t.lastID
		t.add(events)
		if update != nil {
			update(t)
		}
		if t.finished() {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return t, ctx.Err()
		case <-time.After(interval):
		}
		interval = min(interval*2, time.Second)
		if t.lastID != before {
			interval = 100 * time.Millisecond
		}
	}
}

// defaultAccountRole is the role --account assumes in a member account unless --account-role
// names another: the role AWS Organizations creates in every account it makes
// (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_access-cross-account-role.html);
// `keyrotor local up --accounts N` creates it in each local member account. (The engine's own
// keyrotor-target role trusts only the engine's functions.)
const defaultAccountRole = "OrganizationAccountAccessRole"

// accountFlags select the account a command reads: --account (12 digits; default the
// caller's own) and --account-role, the role assumed there.
type accountFlags struct{ account, role string }

func addAccountFlags(fl *pflag.FlagSet, f *accountFlags, what string) {
	fl.StringVar(&f.account, "account", "", what+" (12-digit id; default: the account of your credentials, the engine's)")
	fl.StringVar(&f.role, "account-role", defaultAccountRole, "with --account: the role (path/name) to assume there to read it")
}

func (f accountFlags) check() error {
	if f.account != "" && !rotation.ValidAccountID(f.account) {
		return usagef("--account %q: want a 12-digit AWS account id", f.account)
	}
	return nil
}

// accountConfig is hub's configuration acting in account: hub itself for "" or the caller's
// own account, else a session of role there (sts:AssumeRole, cached by the SDK).
func accountConfig(ctx context.Context, hub aws.Config, account, role string) (aws.Config, error) {
	if account == "" {
		return hub, nil
	}
	client := sts.NewFromConfig(hub)
	me, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return aws.Config{}, fmt.Errorf("who am I (sts:GetCallerIdentity): %w", err)
	}
	if aws.ToString(me.Account) == account {
		return hub, nil
	}
	if role == "" {
		role = defaultAccountRole
	}
	partition := "aws"
	if a, err := arn.Parse(aws.ToString(me.Arn)); err == nil {
		partition = a.Partition
	}
	roleARN := "arn:" + partition + ":iam::" + account + ":role/" + strings.TrimPrefix(role, "/")
	cfg := hub.Copy()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(client, roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = "keyrotor-cli"
	}))
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return aws.Config{}, &hintedError{
			hint: fmt.Sprintf("could not assume %s to read account %s: either %s is not an account of your organization, or the role does not exist there "+
				"or does not trust you; pass --account-role with a role you may assume there (your credentials: %s)", roleARN, account, account, aws.ToString(me.Arn)),
			err: err,
		}
	}
	return cfg, nil
}
