package fleet

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

// NewLister builds the fleet's Lister over SDK clients made from cfg, as NewSteps builds the
// steps: the users under userPath, the fleet bucket of KEYROTOR_FLEET_BUCKET, and, where conf
// names member accounts, their users through each one's keyrotor-target role.
func NewLister(cfg aws.Config, conf rotation.Config, userPath string, logger *slog.Logger) *Lister {
	// Path-style requests when an endpoint override points S3 at a local stand-in (moto): its
	// address takes no bucket subdomain. AWS itself gets virtual-hosted requests.
	pathStyle := os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	l := &Lister{IAM: listingIAM(cfg), S3: S3Store{Client: s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle })},
		Bucket: os.Getenv(EnvBucket), UserPath: userPath, Logger: logger, MemberAccounts: conf.MemberAccounts,
		Executions: sfn.NewFromConfig(cfg)}
	if len(conf.MemberAccounts) > 0 {
		// organizationalUnitId: the OU's accounts, read with the function's own role.
		l.Organizations = organizations.NewFromConfig(cfg)
	}
	if members := rotation.NewMembers(cfg, conf, rotation.ListUsersFunction, nil); members != nil {
		// A fleet over accountIds lists each member account's users through its
		// keyrotor-target role, in a session named after the fleet execution.
		l.MemberIAM = func(ctx context.Context, account, executionID string) (IAM, error) {
			mcfg, err := members.Config(ctx, account, rotation.PartitionOf(executionID), rotation.SessionName(executionID))
			if err != nil {
				return nil, err
			}
			return listingIAM(mcfg), nil
		}
	}
	return l
}

// listingAttempts is how often the listing tries one IAM read before its page fails, and
// listingMaxBackoff the longest wait between two tries: a read's worst case stays near 30 s.
const (
	listingAttempts   = 30
	listingMaxBackoff = time.Second
)

// listingIAM is the IAM client of the fleet's listing. The listing reads every user's tags
// (5,000 ListUserTags at IAM's per-account maximum, 100 a call), and one read out of attempts
// fails its whole page, which the state machine's Retry then reads again: under IAM throttling
// (20 calls/s in the fault proxy) the SDK's default 3 attempts and its client-side retry quota
// failed the fleet before any rotation started (bench/BENCHMARKS.md §7). The reads are
// idempotent: many attempts, each after at most a second, so that a page's retries fit well
// within the function's 60 s timeout.
func listingIAM(cfg aws.Config) *iam.Client {
	return iam.NewFromConfig(cfg, func(o *iam.Options) {
		o.Retryer = retry.NewStandard(func(s *retry.StandardOptions) {
			s.MaxAttempts, s.MaxBackoff, s.RateLimiter = listingAttempts, listingMaxBackoff, ratelimit.None
		})
	})
}
