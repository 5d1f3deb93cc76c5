package rotation

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// IAMAttempts is how often a step sends one IAM call while IAM answers throttling or a
// server error, each wait a random time up to IAMMaxBackoff (the SDK's full jitter). A step whose
// call runs out of attempts fails Throttled and the state machine retries the whole step,
// which reads again everything the step had already read: under a fleet that keeps an
// account's IAM rate spent, the SDK's default 3 attempts made rotations of 10 accounts × 100
// users send 13.3–15.6 IAM calls where 11.1–14.3 sufficed (bench/BENCHMARKS.md §7). Waits
// are at most 4 s a call, so a step's few IAM calls fit well within the functions' 60 s
// timeout (infra/modules/engine); the state machine's Retry backs off for longer.
const (
	IAMAttempts   = 5
	IAMMaxBackoff = time.Second
)

// stepIAM is the steps' IAM client. A throttling answer says the request was not done
// ("denied due to request throttling", the errors common to every AWS API,
// https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html), so sending it again
// is safe; after the other failures the SDK retries (a 5xx, a lost answer) the steps' IAM
// changes are safe to send again too, being idempotent — UpdateAccessKey sets a status, DeleteAccessKey of a key already gone is
// treated as deleted (keys.go), TagUser and UntagUser set tags — and CreateAccessKey, the one
// that is not, has a retryer of its own (createRetryer). No retry quota: a warm Lambda's
// quota, spent by earlier throttled calls, would end the retries early, and the SDK's
// quota error drops the throttling answer, so the step would not fail Throttled.
func stepIAM(cfg aws.Config) *iam.Client {
	return iam.NewFromConfig(cfg, func(o *iam.Options) {
		o.Retryer = retry.NewStandard(func(s *retry.StandardOptions) {
			s.MaxAttempts, s.MaxBackoff, s.RateLimiter = IAMAttempts, IAMMaxBackoff, ratelimit.None
		})
	})
}
