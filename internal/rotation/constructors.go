package rotation

import (
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// Each Lambda builds only the clients its actions call, so the Go linker leaves the other
// SDK service packages out of its bootstrap (NewSteps, which builds all, is for tests and
// callers running every action in one process). A field left nil is never reached: Dispatch
// serves only the function's own actions.

// The hub's function names (functions/<name>, the engine's <engine>-<name> roles), which
// their member role sessions carry as the FunctionTagKey session tag.
const (
	CreateKeyFunction     = "createkey"
	StoreParamFunction    = "storeparam"
	VerifyKeyFunction     = "verifykey"
	DeleteOldKeysFunction = "deleteoldkeys"
	TriggerFunction       = "trigger"
	ListUsersFunction     = "listusers"
)

// NewCreateKeySteps builds Steps for createkey (begin, create): IAM and SSM for keys, lock and
// parameter, KMS to seal the new secret, Step Functions for begin to ask whether the execution
// holding a lock is still running, and EventBridge (a refused begin ends its rotation).
func NewCreateKeySteps(cfg aws.Config, conf Config, logger *slog.Logger) *Steps {
	return functionSteps(cfg, conf, logger, CreateKeyFunction, NewCreateKeySteps, withIAM, withSSM, withKMS, withExecutions, withEvents)
}

// NewStoreParamSteps builds Steps for storeparam (store, restore): SSM for lock, parameter
// and its ownership tags, KMS to unseal the secret, Step Functions for restore's authority (a
// RUNNING execution).
func NewStoreParamSteps(cfg aws.Config, conf Config, logger *slog.Logger) *Steps {
	return functionSteps(cfg, conf, logger, StoreParamFunction, NewStoreParamSteps, withSSM, withKMS, withExecutions)
}

// NewVerifyKeySteps builds Steps for verifykey (verify): SSM to read the parameter as a
// consumer does and a per-key STS client for GetCallerIdentity.
func NewVerifyKeySteps(cfg aws.Config, conf Config, logger *slog.Logger) *Steps {
	return functionSteps(cfg, conf, logger, VerifyKeyFunction, NewVerifyKeySteps, withSSM, withCallerIdentity)
}

// NewDeleteOldKeysSteps builds Steps for deleteoldkeys (deactivate, delete, rollback,
// release): IAM for the keys, SSM for lock and parameter, Step Functions to prove the
// request's execution is RUNNING before anything is deactivated or deleted, and EventBridge
// (delete, release and rollback end rotations).
func NewDeleteOldKeysSteps(cfg aws.Config, conf Config, logger *slog.Logger) *Steps {
	return functionSteps(cfg, conf, logger, DeleteOldKeysFunction, NewDeleteOldKeysSteps, withIAM, withSSM, withExecutions, withEvents)
}

// functionSteps is the one constructor behind the four: Steps with the clients the function
// names, and member sessions (tagged with the function's name) built by the same constructor.
// Each client is a function of its own, so a bootstrap links only the SDK packages its
// constructor names.
func functionSteps(cfg aws.Config, conf Config, logger *slog.Logger, name string,
	self func(aws.Config, Config, *slog.Logger) *Steps, clients ...func(*Steps, aws.Config)) *Steps {
	s := &Steps{Config: conf, Logger: logger, Now: time.Now}
	for _, with := range clients {
		with(s, cfg)
	}
	s.Members = NewMembers(cfg, conf, name, func(c aws.Config) *Steps { return self(c, conf, logger) })
	return s
}

func withIAM(s *Steps, cfg aws.Config)            { s.IAM = iam.NewFromConfig(cfg) }
func withSSM(s *Steps, cfg aws.Config)            { s.SSM = ssm.NewFromConfig(cfg) }
func withKMS(s *Steps, cfg aws.Config)            { s.KMS = kms.NewFromConfig(cfg) }
func withExecutions(s *Steps, cfg aws.Config)     { s.Executions = sfn.NewFromConfig(cfg) }
func withEvents(s *Steps, cfg aws.Config)         { s.Events = eventbridge.NewFromConfig(cfg) }
func withCallerIdentity(s *Steps, cfg aws.Config) { s.CallerIdentity = STSCallerIdentity(cfg) }
