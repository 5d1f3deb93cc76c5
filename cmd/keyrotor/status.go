package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/spf13/cobra"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

func newStatusCmd(stdout, stderr io.Writer) *cobra.Command {
	var user, parameter string
	var asJSON bool
	var af accountFlags
	cmd := &cobra.Command{
		Use:   "status --user USER [--account ID] [--json]",
		Short: "Show a managed user's keys, the parameter's version and key, and a running rotation",
		Long: `Shows the user's access keys (status, age, last use), the parameter's version and which key it
holds, and the rotation holding the parameter's lock, if any. It reads no secret: the parameter
is described, never read, and the key it holds comes from its description. --json prints the
same as one JSON object. With --account it reads a member account's user and parameter
(assuming --account-role there); the lock holder's execution is asked of your own account's
Step Functions, where the engine runs.`,
		Example: `  keyrotor status --user s3-signer
  keyrotor status --user s3-signer --json
  keyrotor status --account 111111111111 --user s3-signer`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkUserIn(user, "the IAM user whose keys to show", af, parameter); err != nil {
				return err
			}
			return status(cmd.Context(), stdout, user, parameter, asJSON, af)
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "IAM user")
	cmd.Flags().StringVar(&parameter, "parameter", "", "SSM parameter that holds the key (default: the user's keyrotor:parameter tag, else /keyrotor/<user>)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as one JSON object")
	addAccountFlags(cmd.Flags(), &af, "the member account of the user")
	return cmd
}

// keyStatus is one of the user's access keys.
type keyStatus struct {
	ID          string    `json:"id"`
	Status      string    `json:"status"`
	Created     time.Time `json:"created"`
	LastUsed    time.Time `json:"last_used,omitzero"` // zero: never
	LastService string    `json:"last_service,omitempty"`
	InParameter bool      `json:"in_parameter"`
}

// userStatus is what status reports (`status --json` prints it); it has no field that could
// hold a secret.
type userStatus struct {
	User             string      `json:"user"`
	ARN              string      `json:"user_arn"`
	Managed          bool        `json:"managed"`
	Keys             []keyStatus `json:"keys"`
	Parameter        string      `json:"parameter"`
	ParameterFound   bool        `json:"parameter_exists"`
	ParameterVersion int64       `json:"parameter_version,omitempty"`
	ParameterChanged time.Time   `json:"parameter_changed,omitzero"`
	HeldKey          string      `json:"parameter_access_key_id,omitempty"`
	LockHolder       string      `json:"lock_holder,omitempty"`        // execution ARN in the lock, "" if unlocked
	LockStatus       string      `json:"lock_holder_status,omitempty"` // that execution's status, if it could be read
	RotationRunning  bool        `json:"rotation_running"`
}

// readStatus reads user and parameter in af's account (hub's own when none is given) and the
// lock holder's execution with hub (the engine's account). parameter "" is the one Begin would
// use: the user's keyrotor:parameter tag, else the default name.
func readStatus(ctx context.Context, hub aws.Config, af accountFlags, user, parameter string) (*userStatus, error) {
	cfg, err := accountConfig(ctx, hub, af.account, af.role)
	if err != nil {
		return nil, err
	}
	iamc, ssmc := iam.NewFromConfig(cfg), ssm.NewFromConfig(cfg)
	s := &userStatus{User: user}
	u, err := iamc.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(user)})
	var noUser *iamtypes.NoSuchEntityException
	if errors.As(err, &noUser) {
		return nil, &failedError{msg: fmt.Sprintf("IAM user %s does not exist", user)}
	}
	if err != nil {
		return nil, fmt.Errorf("read IAM user %s: %w", user, err)
	}
	s.ARN = aws.ToString(u.User.Arn)
	tags, err := iamc.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String(user)})
	if err != nil {
		return nil, fmt.Errorf("read the tags of %s: %w", user, err)
	}
	tagged := ""
	for _, t := range tags.Tags {
		if aws.ToString(t.Key) == rotation.ManagedTagKey && aws.ToString(t.Value) == rotation.ManagedTagValue {
			s.Managed = true
		}
		if aws.ToString(t.Key) == rotation.ParameterTagKey {
			tagged = aws.ToString(t.Value)
		}
	}
	switch {
	case parameter != "":
	case tagged != "":
		parameter = tagged
	default:
		parameter = rotation.DefaultParameterPrefix + user
	}
	s.Parameter = parameter
	keys, err := iamc.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		return nil, fmt.Errorf("list the access keys of %s: %w", user, err)
	}
	for _, k := range keys.AccessKeyMetadata {
		ks := keyStatus{ID: aws.ToString(k.AccessKeyId), Status: string(k.Status), Created: aws.ToTime(k.CreateDate)}
		used, err := iamc.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: k.AccessKeyId})
		if err != nil {
			return nil, fmt.Errorf("read when %s was last used: %w", ks.ID, err)
		}
		if lu := used.AccessKeyLastUsed; lu != nil {
			ks.LastUsed, ks.LastService = aws.ToTime(lu.LastUsedDate), aws.ToString(lu.ServiceName)
		}
		s.Keys = append(s.Keys, ks)
	}
	// DescribeParameters returns metadata only: the value never crosses the wire.
	params, err := ssmc.DescribeParameters(ctx, &ssm.DescribeParametersInput{
		ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Name"), Option: aws.String("Equals"), Values: []string{parameter}}},
	})
	if err != nil {
		return nil, fmt.Errorf("describe parameter %s: %w", parameter, err)
	}
	for _, p := range params.Parameters {
		if aws.ToString(p.Name) == parameter {
			s.ParameterFound, s.ParameterVersion, s.ParameterChanged = true, p.Version, aws.ToTime(p.LastModifiedDate)
			if id, ok := strings.CutPrefix(aws.ToString(p.Description), rotation.DescriptionPrefix); ok {
				s.HeldKey = id
			}
		}
	}
	lock, err := ssmc.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(parameter + rotation.LockSuffix)})
	var notFound *ssmtypes.ParameterNotFound
	switch {
	case errors.As(err, &notFound):
	case err != nil:
		return nil, fmt.Errorf("read the lock %s%s: %w", parameter, rotation.LockSuffix, err)
	default:
		var l struct {
			ExecutionID string `json:"executionId"`
		}
		_ = json.Unmarshal([]byte(aws.ToString(lock.Parameter.Value)), &l)
		s.LockHolder = l.ExecutionID
		if s.LockHolder == "" {
			s.LockHolder = "(unreadable lock)"
		} else if ex, err := sfn.NewFromConfig(hub).DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(l.ExecutionID)}); err == nil {
			s.LockStatus = string(ex.Status)
		} else {
			s.LockStatus = "unknown (" + err.Error() + ")"
		}
	}
	if s.Keys == nil {
		s.Keys = []keyStatus{} // [] in --json
	}
	for i := range s.Keys {
		s.Keys[i].InParameter = s.HeldKey != "" && s.Keys[i].ID == s.HeldKey
	}
	s.RotationRunning = s.LockStatus == "RUNNING"
	return s, nil
}

func status(ctx context.Context, stdout io.Writer, user, parameter string, asJSON bool, af accountFlags) error {
	hub, err := loadAWS(ctx)
	if err != nil {
		return err
	}
	s, err := readStatus(ctx, hub, af, user, parameter)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, s)
	}
	printStatus(stdout, s, time.Now())
	return nil
}

func printStatus(out io.Writer, s *userStatus, now time.Time) {
	// Only the key lines have columns of their own; the others are label and text.
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	defer w.Flush()
	managed := "managed (keyrotor:managed=true)"
	if !s.Managed {
		managed = "NOT managed: add the tag keyrotor:managed=true before rotating"
	}
	fmt.Fprintf(w, "user\t%s  %s\n", s.ARN, managed)
	if len(s.Keys) == 0 {
		fmt.Fprintln(w, "keys\tnone")
	}
	for i, k := range s.Keys {
		label := "keys"
		if i > 0 {
			label = ""
		}
		used := "never used"
		if !k.LastUsed.IsZero() {
			used = "last used " + age(now.Sub(k.LastUsed)) + " ago"
			if k.LastService != "" && k.LastService != "N/A" {
				used += " (" + k.LastService + ")"
			}
		}
		if k.InParameter {
			used += "  ← in parameter"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\tage %s\t%s\n", label, k.ID, k.Status, age(now.Sub(k.Created)), used)
	}
	switch {
	case !s.ParameterFound:
		fmt.Fprintf(w, "parameter\t%s  does not exist yet (the first rotation creates it)\n", s.Parameter)
	case s.HeldKey == "":
		fmt.Fprintf(w, "parameter\t%s  version %d, changed %s ago, not written by keyrotor\n", s.Parameter, s.ParameterVersion, age(now.Sub(s.ParameterChanged)))
	default:
		fmt.Fprintf(w, "parameter\t%s  version %d, changed %s ago, holds %s\n", s.Parameter, s.ParameterVersion, age(now.Sub(s.ParameterChanged)), s.HeldKey)
	}
	switch {
	case s.LockHolder == "":
		fmt.Fprintln(w, "rotation\tnone running")
	case s.RotationRunning:
		fmt.Fprintf(w, "rotation\trunning: %s\n", s.LockHolder)
	default:
		fmt.Fprintf(w, "rotation\tnone running; stale lock of %s (%s), broken by the next rotation\n", s.LockHolder, s.LockStatus)
	}
}

// printJSON writes v as one indented JSON object, what every --json prints.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// age writes a duration the way a person reads an age: 42s, 7m, 5h, 12d.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}
