package bench

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

// Published prices, US East (N. Virginia). The only figures in the benchmarks that are typed in.
const (
	// https://aws.amazon.com/step-functions/pricing/ (read 2026-11-26): Standard Workflows,
	// $0.025 per 1,000 state transitions; retries count as transitions.
	stepFunctionsPerTransitionUSD = 0.025 / 1000
	// https://aws.amazon.com/lambda/pricing/ (read 2026-11-26): Arm, first 7.5 billion GB-seconds
	// per month $0.0000133334 per GB-second; requests $0.20 per 1 million.
	lambdaArmPerGBSecondUSD = 0.0000133334
	lambdaPerRequestUSD     = 0.20 / 1_000_000
	// https://aws.amazon.com/secrets-manager/pricing/ (read 2026-11-26): $0.40 per secret per
	// month, $0.05 per 10,000 API calls.
	secretsManagerPerSecretMonthUSD = 0.40
	secretsManagerPerAPICallUSD     = 0.05 / 10_000
)

// Structure of a Secrets Manager rotation, from AWS's rotation function template
// (github.com/aws-samples/aws-secrets-manager-rotation-lambdas,
// SecretsManagerRotationTemplate/lambda_function.py, read 2026-11-26): Secrets Manager invokes
// the rotation function once per step (createSecret, setSecret, testSecret, finishSecret); every
// invocation calls DescribeSecret; createSecret calls GetSecretValue twice, GetRandomPassword and
// PutSecretValue; an access-key rotation's setSecret and testSecret read the pending value
// (GetSecretValue each); finishSecret calls DescribeSecret and UpdateSecretVersionStage twice.
const (
	secretsManagerRotationInvocations = 4
	secretsManagerRotationAPICalls    = 4 + 4 + 1 + 1 + 3
)

// daysPerMonth is the average month (365.25 / 12 days): a daily schedule's rotations per month.
const daysPerMonth = 365.25 / 12

// Cost is the cost model of one managed key, every input measured or read from the repository.
type Cost struct {
	TransitionsPerRotation int `json:"transitions_per_rotation"`
	InvocationsPerRotation int `json:"lambda_invocations_per_rotation"`
	// BilledMSPerRotation is the sum of the rotation's Lambda billed durations (REPORT lines).
	BilledMSPerRotation float64 `json:"lambda_billed_ms_per_rotation"`
	// MemoryMB is the engine module's lambda_memory_mb default (infra/modules/engine).
	MemoryMB           int     `json:"lambda_memory_mb"`
	GBSecondsPerRot    float64 `json:"lambda_gb_seconds_per_rotation"`
	StepFunctionsUSD   float64 `json:"step_functions_usd_per_rotation"`
	LambdaUSD          float64 `json:"lambda_usd_per_rotation"`
	PerRotationUSD     float64 `json:"usd_per_rotation"`
	Per1000USD         float64 `json:"cost_per_1000_rotations_usd"`
	RotationsPerMonth  float64 `json:"rotations_per_month"`
	PerKeyMonthUSD     float64 `json:"cost_per_key_month_usd"`
	SecretsManager     float64 `json:"secrets_manager_cost_per_key_month_usd"`
	SecretsManagerNote string  `json:"secrets_manager_model"`
}

// costModel prices a rotation of the measured shape on a daily schedule, and the same key kept
// in Secrets Manager with a rotation Lambda of the same memory and per-invocation duration.
func costModel(transitions, invocations int, billedMS float64, memoryMB int) Cost {
	c := Cost{
		TransitionsPerRotation: transitions, InvocationsPerRotation: invocations,
		BilledMSPerRotation: billedMS, MemoryMB: memoryMB, RotationsPerMonth: daysPerMonth,
	}
	gb := float64(memoryMB) / 1024
	c.GBSecondsPerRot = billedMS / 1000 * gb
	c.StepFunctionsUSD = float64(transitions) * stepFunctionsPerTransitionUSD
	c.LambdaUSD = float64(invocations)*lambdaPerRequestUSD + c.GBSecondsPerRot*lambdaArmPerGBSecondUSD
	c.PerRotationUSD = c.StepFunctionsUSD + c.LambdaUSD
	c.Per1000USD = 1000 * c.PerRotationUSD
	c.PerKeyMonthUSD = daysPerMonth * c.PerRotationUSD

	perInvocationMS := 0.0
	if invocations > 0 {
		perInvocationMS = billedMS / float64(invocations)
	}
	smLambda := secretsManagerRotationInvocations * (lambdaPerRequestUSD + perInvocationMS/1000*gb*lambdaArmPerGBSecondUSD)
	smAPI := secretsManagerRotationAPICalls * secretsManagerPerAPICallUSD
	c.SecretsManager = secretsManagerPerSecretMonthUSD + daysPerMonth*(smLambda+smAPI)
	c.SecretsManagerNote = fmt.Sprintf("$%.2f per secret-month + per daily rotation %d rotation-Lambda invocations (%.0f ms each, %d MB, arm64) and %d Secrets Manager API calls",
		secretsManagerPerSecretMonthUSD, secretsManagerRotationInvocations, perInvocationMS, memoryMB, secretsManagerRotationAPICalls)
	return c
}

// engineMemoryMB reads the default of variable "lambda_memory_mb" in infra/modules/engine,
// which every function's memory_size takes.
func engineMemoryMB(root string) (int, error) {
	path := filepath.Join(root, "infra", "modules", "engine", "variables.tf")
	src, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("engine memory: %w", err)
	}
	file, diags := hclparse.NewParser().ParseHCL(src, path)
	if diags.HasErrors() {
		return 0, fmt.Errorf("engine memory: %s", diags.Error())
	}
	content, _, diags := file.Body.PartialContent(&hcl.BodySchema{
		Blocks: []hcl.BlockHeaderSchema{{Type: "variable", LabelNames: []string{"name"}}},
	})
	if diags.HasErrors() {
		return 0, fmt.Errorf("engine memory: %s", diags.Error())
	}
	for _, b := range content.Blocks {
		if b.Labels[0] != "lambda_memory_mb" {
			continue
		}
		attrs, _ := b.Body.JustAttributes()
		def, ok := attrs["default"]
		if !ok {
			return 0, fmt.Errorf("engine memory: variable lambda_memory_mb in %s has no default", path)
		}
		v, diags := def.Expr.Value(nil)
		if diags.HasErrors() || v.Type() != cty.Number {
			return 0, fmt.Errorf("engine memory: the default of lambda_memory_mb in %s is not a number", path)
		}
		n, _ := v.AsBigFloat().Int64()
		return int(n), nil
	}
	return 0, fmt.Errorf("engine memory: %s declares no variable lambda_memory_mb", path)
}
