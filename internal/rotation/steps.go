package rotation

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// IAM is what the steps use of the IAM client; each part is declared where it is used.
type IAM interface {
	userTagLister
	keyLister
	keyCreator
	keyStatusUpdater
	keyDeleter
	keyUsageReader
}

// SSM is what the steps use of the SSM client.
type SSM interface {
	lockStore
	parameterHistoryReader
	parameterWriter
	parameterReader
	parameterDeleter
	parameterTagger
}

// KMS is what the steps use of the KMS client.
type KMS interface {
	sealer
	unsealer
}

// Steps runs the rotation steps. Build it with NewSteps; tests may swap any dependency.
type Steps struct {
	Config         Config
	IAM            IAM
	SSM            SSM
	KMS            KMS
	Executions     executionReader
	CallerIdentity CallerIdentityFunc
	Logger         *slog.Logger
	Now            func() time.Time
	// Events, when set, receives each rotation's outcome (event.go).
	Events EventPublisher
	// Members, when set, serves requests naming a member account (account.go).
	Members *Members

	// session, role and account are set in Steps serving a member account.
	session       *aws.CredentialsCache
	role, account string
}

// NewSteps builds Steps over SDK clients made from cfg (whose BaseEndpoint/AWS_ENDPOINT_URL
// also point the per-key STS client at the right place).
func NewSteps(cfg aws.Config, conf Config, logger *slog.Logger) *Steps {
	s := &Steps{
		Config:         conf,
		IAM:            iam.NewFromConfig(cfg),
		SSM:            ssm.NewFromConfig(cfg),
		KMS:            kms.NewFromConfig(cfg),
		Executions:     sfn.NewFromConfig(cfg),
		CallerIdentity: STSCallerIdentity(cfg),
		Events:         eventbridge.NewFromConfig(cfg),
		Logger:         logger,
		Now:            time.Now,
	}
	// Every action in one process is no hub function: its member sessions carry no function tag.
	s.Members = NewMembers(cfg, conf, "", func(c aws.Config) *Steps { return NewSteps(c, conf, logger) })
	return s
}

// CallerIdentityFunc calls sts:GetCallerIdentity signed with the given key.
type CallerIdentityFunc func(ctx context.Context, accessKeyID string, secret SecretKey) (*sts.GetCallerIdentityOutput, error)

// STSCallerIdentity returns a CallerIdentityFunc that makes a fresh STS client per call with
// the key as its only credentials and no SDK retries: the state machine owns retrying.
func STSCallerIdentity(cfg aws.Config) CallerIdentityFunc {
	return func(ctx context.Context, accessKeyID string, secret SecretKey) (*sts.GetCallerIdentityOutput, error) {
		client := sts.NewFromConfig(cfg, func(o *sts.Options) {
			o.Credentials = credentials.NewStaticCredentialsProvider(accessKeyID, secret.reveal(), "")
			o.Retryer = aws.NopRetryer{}
		})
		return client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	}
}

func (s *Steps) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}
