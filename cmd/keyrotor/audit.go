package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
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
		Use:   "audit [--account ID]... [--max-age DAYS] [--json]",
		Short: "List every IAM user's access keys (managed or not) and flag active keys older than --max-age",
		Long: `Lists every IAM user's access keys in the account, whether keyrotor manages the user or not:
status, age, last use, and which keyrotor parameter holds the key. Active keys older than
--max-age days (as AWS Config's access-keys-rotated rule counts maxAccessKeyAge, default 90)
are flagged in the OVER MAX AGE column, and the command exits 1 when any is: usable as a CI or
compliance gate. Users with no key are listed after the keys. It reads no secret.

--account (repeatable) audits those accounts instead, each read through --account-role
(default OrganizationAccountAccessRole); the report is then grouped by account.`,
		Example: `  keyrotor audit
  keyrotor audit --max-age 30 --json
  keyrotor audit --account 111111111111 --account 222222222222`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			secs, err := parseMaxAge(maxAge)
			if err != nil {
				return err
			}
			if err := checkParameterPrefix(prefix); err != nil {
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
	cmd.Flags().StringVar(&maxAge, "max-age", strconv.Itoa(int(audit.DefaultMaxAge.Hours()/24)), "flag active keys older than this many days (AWS Config's maxAccessKeyAge; 90, 90d, or a duration such as 36h)")
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

// parseMaxAge reads --max-age: a number of days (90, as AWS Config's maxAccessKeyAge), days
// with a unit (90d) or a duration (36h).
func parseMaxAge(s string) (int, error) {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		s = strconv.Itoa(n) + "d"
	}
	secs, err := parseSeconds("max-age", s, maxAuditAge)
	if err != nil {
		return 0, err
	}
	if secs == 0 {
		return 0, usagef("--max-age must be more than 0 days (e.g. 90)")
	}
	return secs, nil
}

// daysText writes a maximum age in days as a person reads it: "90 days", "1.5 days".
func daysText(days float64) string {
	if days == 1 {
		return "1 day"
	}
	return strconv.FormatFloat(days, 'f', -1, 64) + " days"
}

func overMaxAge(n int, days float64) error {
	if n > 0 {
		return &failedError{msg: fmt.Sprintf("%d active access key(s) older than %s", n, daysText(days))}
	}
	return nil
}

// trimLines drops the spaces text/tabwriter pads a line's last cells with.
func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

func printAudit(w io.Writer, r *audit.Report) {
	var table strings.Builder
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tACCESS KEY\tSTATUS\tAGE (DAYS)\tLAST USED\tMANAGED\tHELD BY\tOVER MAX AGE")
	for _, k := range r.Keys {
		used := "never"
		if k.LastUsed != nil {
			used = k.LastUsed.UTC().Format(time.DateOnly)
			if k.LastService != "" {
				used += " (" + k.LastService + ")"
			}
		}
		flag := "-"
		if k.OverMaxAge {
			flag = "yes"
		}
		held := k.HeldBy
		if held == "" {
			held = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%s\t%t\t%s\t%s\n", k.User, k.AccessKeyID, k.Status, k.AgeDays, used, k.Managed, held, flag)
	}
	tw.Flush()
	io.WriteString(w, trimLines(table.String()))
	if len(r.UsersWithoutKeys) > 0 {
		fmt.Fprintf(w, "users without access keys: %s\n", strings.Join(r.UsersWithoutKeys, ", "))
	}
	fmt.Fprintf(w, "%d users, %d access keys, %d active keys older than %s\n", r.Users, len(r.Keys), r.OverMaxAge, daysText(r.MaxAgeDays))
}
