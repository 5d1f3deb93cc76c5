package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/spf13/cobra"

	"github.com/keyrotor/keyrotor/internal/audit"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

// maxAuditAge bounds --max-age: AWS Config's maxAccessKeyAge is a day count; ten years is ample.
const maxAuditAge = 10 * 365 * 86400

func newAuditCmd(stdout, _ io.Writer) *cobra.Command {
	var (
		maxAge, prefix, role string
		accounts             []string
		asJSON               bool
	)
	cmd := &cobra.Command{
		Use:   "audit [--account ID]... [--max-age 90d] [--json]",
		Short: "List every IAM user's access keys (managed or not) and flag active keys older than --max-age",
		Long: `Lists every IAM user's access keys in the account, whether keyrotor manages the user or not:
status, age, last use, and which keyrotor parameter holds the key. Active keys older than
--max-age are flagged as AWS Config's access-keys-rotated rule flags them (default 90 days), and
the command exits 1 when any is: usable as a CI or compliance gate. It reads no secret.

--account (repeatable) audits those accounts instead, each read through --account-role
(default OrganizationAccountAccessRole); the report is then grouped by account.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			secs, err := parseSeconds("max-age", maxAge, maxAuditAge)
			if err != nil {
				return err
			}
			if secs == 0 {
				return usagef("--max-age must be more than 0 (e.g. 90d)")
			}
			if err := checkParameter(prefix); err != nil {
				return err
			}
			for _, a := range accounts {
				if err := (accountFlags{account: a}).check(); err != nil {
					return err
				}
			}
			hub, err := loadAWS(cmd.Context())
			if err != nil {
				return err
			}
			opts := audit.Options{ParameterPrefix: prefix, MaxAge: time.Duration(secs) * time.Second}
			if len(accounts) == 0 {
				r, err := audit.Run(cmd.Context(), iam.NewFromConfig(hub), ssm.NewFromConfig(hub), opts)
				if err != nil {
					return err
				}
				if asJSON {
					if err := printJSON(stdout, r); err != nil {
						return err
					}
				} else {
					printAudit(stdout, r)
				}
				return overMaxAge(r.OverMaxAge, r.MaxAgeDays)
			}
			var reports []accountAudit
			over := 0
			for _, a := range accounts {
				cfg, err := accountConfig(cmd.Context(), hub, a, role)
				if err != nil {
					return err
				}
				r, err := audit.Run(cmd.Context(), iam.NewFromConfig(cfg), ssm.NewFromConfig(cfg), opts)
				if err != nil {
					return fmt.Errorf("audit account %s: %w", a, err)
				}
				reports = append(reports, accountAudit{AccountID: a, Report: r})
				over += r.OverMaxAge
				if !asJSON {
					fmt.Fprintf(stdout, "account %s\n", a)
					printAudit(stdout, r)
				}
			}
			if asJSON {
				if err := printJSON(stdout, map[string]any{"accounts": reports, "over_max_age": over}); err != nil {
					return err
				}
			}
			return overMaxAge(over, reports[0].MaxAgeDays)
		},
	}
	cmd.Flags().StringVar(&maxAge, "max-age", "90d", "flag active keys older than this (days as 90d, or a duration)")
	cmd.Flags().StringVar(&prefix, "parameter-prefix", rotation.DefaultParameterPrefix, "where keyrotor's parameters live")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().StringArrayVar(&accounts, "account", nil, "audit this account (12-digit id; repeatable; default: the account of your credentials)")
	cmd.Flags().StringVar(&role, "account-role", defaultAccountRole, "with --account: the role (path/name) to assume there to read it")
	return cmd
}

// accountAudit is one account's report in `audit --account … --json`.
type accountAudit struct {
	AccountID string `json:"account_id"`
	*audit.Report
}

func overMaxAge(n int, days float64) error {
	if n > 0 {
		return &failedError{msg: fmt.Sprintf("%d active access key(s) older than %g days", n, days)}
	}
	return nil
}

func printAudit(w io.Writer, r *audit.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tACCESS KEY\tSTATUS\tAGE (DAYS)\tLAST USED\tMANAGED\tHELD BY\t")
	for _, k := range r.Keys {
		used := "never"
		if k.LastUsed != nil {
			used = k.LastUsed.UTC().Format(time.DateOnly)
			if k.LastService != "" {
				used += " (" + k.LastService + ")"
			}
		}
		flag := ""
		if k.OverMaxAge {
			flag = "OVER MAX AGE"
		}
		held := k.HeldBy
		if held == "" {
			held = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%s\t%t\t%s\t%s\n", k.User, k.AccessKeyID, k.Status, k.AgeDays, used, k.Managed, held, flag)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d users, %d access keys, %d active keys older than %g days\n", r.Users, len(r.Keys), r.OverMaxAge, r.MaxAgeDays)
}
