package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/internal/sfnlocal"
)

// FleetRun is one fleet measurement, the shape of an entry of results.json's `fleet`.
type FleetRun struct {
	Users     int      `json:"users"`
	IAMRate   *float64 `json:"iam_rate_per_s"` // null: unthrottled
	Seconds   float64  `json:"seconds"`
	FloorS    *float64 `json:"floor_seconds"` // null without a throttle to compute it from
	Failed    int      `json:"failed"`
	Violated  int      `json:"violations"`
	Events    int      `json:"parent_history_events"`
	MaxState  int      `json:"max_state_bytes"`
	MotoCPUS  float64  `json:"moto_cpu_s"`
	MotoShare float64  `json:"moto_cpu_share"` // moto's CPU seconds over wall seconds × cores
}

// CreateFleet creates n managed users with one key each under path (once per benchmark).
func CreateFleet(ctx context.Context, env *localenv.Env, path string, n int) ([]string, error) {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%05d", strings.Trim(path, "/"), i)
	}
	return names, env.CreateFleetUsers(ctx, path, names, 1)
}

// MeasureFleet runs the fleet over the users under path (grace and inactive 0) and checks the
// invariants of every user afterwards: exactly one active key, which its parameter holds,
// and no lock left.
func MeasureFleet(ctx context.Context, env *localenv.Env, path string, users []string, concurrency int) (FleetRun, error) {
	run := FleetRun{Users: len(users)}
	input, err := json.Marshal(map[string]any{"pathPrefix": path, "graceSeconds": 0, "inactiveSeconds": 0, "maxConcurrency": concurrency})
	if err != nil {
		return run, err
	}
	moto0 := childCPUSeconds("moto")
	start := time.Now()
	arn, err := env.StepFunctions.StartExecution(ctx, env.FleetStateMachineARN(), "", string(input))
	if err != nil {
		return run, fmt.Errorf("start the fleet: %w", err)
	}
	x, err := env.StepFunctions.Wait(ctx, arn)
	if err != nil {
		return run, fmt.Errorf("fleet: %w", err)
	}
	run.Seconds = time.Since(start).Seconds()
	run.MotoCPUS = childCPUSeconds("moto") - moto0
	run.MotoShare = run.MotoCPUS / (run.Seconds * float64(runtime.NumCPU()))
	if x.Status != sfnlocal.StatusSucceeded {
		return run, fmt.Errorf("fleet ended %s: %s %s", x.Status, x.Error, x.Cause)
	}
	var sum rotation.FleetSummary
	if err := json.Unmarshal(x.Output, &sum); err != nil {
		return run, fmt.Errorf("fleet output: %w", err)
	}
	run.Failed = sum.Counts.Failed + sum.Counts.Skipped + (len(users) - sum.Counts.Rotated - sum.Counts.Failed - sum.Counts.Skipped)
	hist, err := env.StepFunctions.History(ctx, arn)
	if err != nil {
		return run, err
	}
	run.Events = len(hist)
	for _, ev := range hist {
		switch d := ev.Details.(type) {
		case *sfnlocal.StateEnteredEventDetails:
			run.MaxState = max(run.MaxState, len(d.Input))
		case *sfnlocal.StateExitedEventDetails:
			run.MaxState = max(run.MaxState, len(d.Output))
		}
	}
	run.Violated, err = fleetViolations(ctx, env, users)
	return run, err
}

// fleetViolations counts the users that do not end with exactly one active key, held by their
// parameter, and no lock.
func fleetViolations(ctx context.Context, env *localenv.Env, users []string) (int, error) {
	admin := iam.NewFromConfig(env.AdminConfig())
	params := ssm.NewFromConfig(env.AdminConfig())
	bad := 0
	for _, u := range users {
		keys, err := admin.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(u)})
		if err != nil {
			return 0, err
		}
		var active []string
		for _, k := range keys.AccessKeyMetadata {
			if k.Status == iamtypes.StatusTypeActive {
				active = append(active, aws.ToString(k.AccessKeyId))
			}
		}
		p, err := params.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(env.ParameterPrefix + u), WithDecryption: aws.Bool(true)})
		var held struct{ AccessKeyId string }
		if err == nil {
			_ = json.Unmarshal([]byte(aws.ToString(p.Parameter.Value)), &held)
		}
		_, lockErr := params.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(env.ParameterPrefix + u + ".lock")})
		if len(keys.AccessKeyMetadata) > 2 || len(active) != 1 || held.AccessKeyId != active[0] || lockErr == nil {
			bad++
		}
	}
	return bad, nil
}

// childCPUSeconds is the CPU time (user + system) of this process's children whose command
// name contains name, from Linux's /proc (0 elsewhere).
func childCPUSeconds(name string) float64 {
	me := strconv.Itoa(os.Getpid())
	entries, _ := os.ReadDir("/proc")
	total := 0.0
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || end+2 > len(s) {
			continue
		}
		f := strings.Fields(s[end+2:])
		if len(f) < 13 || f[1] != me || !strings.Contains(s[open+1:end], name) {
			continue
		}
		user, _ := strconv.Atoi(f[11])
		system, _ := strconv.Atoi(f[12])
		total += float64(user+system) / 100
	}
	return total
}
