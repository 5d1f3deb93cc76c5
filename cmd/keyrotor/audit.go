package main

import (
	"encoding/json"
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
		maxAge, prefix string
		asJSON         bool
	)
	cmd := &cobra.Command{
		Use:   "audit [--max-age 90d] [--json]",
		Short: "List every IAM user's access keys (managed or not) and flag active keys older than --max-age",
		Long: `Lists every IAM user's access keys in the account, whether keyrotor manages the user or not:
status, age, last use, and which keyrotor parameter holds the key. Active keys older than
--max-age are flagged as AWS Config's access-keys-rotated rule flags them (default 90 days), and
the command exits 1 when any is: usable as a CI or compliance gate. It reads no secret.`,
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
			cfg, err := loadAWS(cmd.Context())
			if err != nil {
				return err
			}
			r, err := audit.Run(cmd.Context(), iam.NewFromConfig(cfg), ssm.NewFromConfig(cfg), audit.Options{
				ParameterPrefix: prefix, MaxAge: time.Duration(secs) * time.Second,
			})
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(r); err != nil {
					return err
				}
			} else {
				printAudit(stdout, r)
			}
			if r.OverMaxAge > 0 {
				return &failedError{msg: fmt.Sprintf("%d active access key(s) older than %g days", r.OverMaxAge, r.MaxAgeDays)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&maxAge, "max-age", "90d", "flag active keys older than this (days as 90d, or a duration)")
	cmd.Flags().StringVar(&prefix, "parameter-prefix", rotation.DefaultParameterPrefix, "where keyrotor's parameters live")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
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
