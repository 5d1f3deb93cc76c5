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
// parameter, KMS to seal the new secret, and Step Functions for begin to ask whether the
// execution holding a lock is still running.
func NewCreateKeySteps(cfg aws.Config, conf Config, logger *slog.Logger) *Steps {
	s := &Steps{
		Config:     conf,
		IAM:        iam.NewFromConfig(cfg),
		SSM:        ssm.NewFromConfig(cfg),
		KMS:        kms.NewFromConfig(cfg),
		Executions: sfn.NewFromConfig(cfg),
		Events:     eventbridge.NewFromConfig(cfg), // begin refusing, delete, release and rollback end rotations
		Logger:     logger,
		Now:        time.Now,
	}
	s.Members = NewMembers(cfg, conf, CreateKeyFunction, func(c aws.Config) *Steps { return NewCreateKeySteps(c, conf, logger) })
	return s
}

// NewStoreParamSteps builds Steps for storeparam (store, restore): SSM for lock, parameter
// and its ownership tags, KMS to unseal the secret, Step Functions for restore's authority.
func NewStoreParamSteps(cfg aws.Config, conf Config, logger *slog.Logger) *Steps {
	s := &Steps{
		Config:     conf,
		SSM:        ssm.NewFromConfig(cfg),
		KMS:        kms.NewFromConfig(cfg),
		Executions: sfn.NewFromConfig(cfg), // restore proves its authority (a RUNNING execution)
		Logger:     logger,
		Now:        time.Now,
	}
	s.Members = NewMembers(cfg, conf, StoreParamFunction, func(c aws.Config) *Steps { return NewStoreParamSteps(c, conf, logger) })
	return s
}

// NewVerifyKeySteps builds Steps for verifykey (verify): SSM to read the parameter as a
// consumer does and a per-key STS client for GetCallerIdentity.
func NewVerifyKeySteps(cfg aws.Config, conf Config, logger *slog.Logger) *Steps {
	s := &Steps{
		Config:         conf,
		SSM:            ssm.NewFromConfig(cfg),
		CallerIdentity: STSCallerIdentity(cfg),
		Logger:         logger,
		Now:            time.Now,
	}
	s.Members = NewMembers(cfg, conf, VerifyKeyFunction, func(c aws.Config) *Steps { return NewVerifyKeySteps(c, conf, logger) })
	return s
}

// NewDeleteOldKeysSteps builds Steps for deleteoldkeys (deactivate, delete, rollback,
// release): IAM for the keys, SSM for lock and parameter, and Step Functions to prove the
// request's execution is RUNNING before anything is deactivated or deleted.
func NewDeleteOldKeysSteps(cfg aws.Config, conf Config, logger *slog.Logger) *Steps {
	s := &Steps{
		Config:     conf,
		IAM:        iam.NewFromConfig(cfg),
		SSM:        ssm.NewFromConfig(cfg),
		Executions: sfn.NewFromConfig(cfg),         // every destructive step proves its execution RUNNING
		Events:     eventbridge.NewFromConfig(cfg), // begin refusing, delete, release and rollback end rotations
		Logger:     logger,
		Now:        time.Now,
	}
	s.Members = NewMembers(cfg, conf, DeleteOldKeysFunction, func(c aws.Config) *Steps { return NewDeleteOldKeysSteps(c, conf, logger) })
	return s
}
