package main

import (
	"io"

	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/spf13/cobra"
)

func newWatchCmd(stdout, _ io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "watch EXECUTION_ARN",
		Short: "Follow a running rotation (one started without --wait, or by the schedule) until it ends",
		Long: `Re-attaches to a rotation as 'keyrotor rotate --wait' follows it: the states done so far, the
running one (a Wait says how long and until when), then the new AccessKeyId, or the failure's
cause and exit 1. Ctrl-C stops watching (exit 130); the rotation goes on. An execution that
already ended is shown and reported the same way.`,
		Example: `  keyrotor watch arn:aws:states:us-east-1:123456789012:execution:keyrotor-rotate:cli-s3-signer-20261126T054240-148Z
  keyrotor watch "$(keyrotor rotate --user s3-signer | sed -n 's/^started //p')"`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkExecutionARN(args[0]); err != nil {
				return err
			}
			cfg, err := loadAWS(cmd.Context())
			if err != nil {
				return err
			}
			client := sfn.NewFromConfig(cfg)
			if isFleetExecution(args[0]) {
				return watchFleet(cmd.Context(), stdout, client, args[0])
			}
			return watchExecution(cmd.Context(), stdout, client, args[0], nil)
		},
	}
}
