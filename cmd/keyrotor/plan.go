package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/keyrotor/keyrotor/internal/fleet"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

// planWorkers bounds the users planned at once: each plan is a dozen read calls, and IAM's
// rate is per account.
const planWorkers = 8

// dryRunReport is `rotate --dry-run --json`.
type dryRunReport struct {
	Users   []rotation.Plan `json:"users"`
	Planned int             `json:"planned"`
	Refused int             `json:"refused"`
	InUse   int             `json:"extendsGrace"`
	At      time.Time       `json:"at"`
}

// dryRun says, for --user or every managed user (--all, --account, --organizational-unit),
// what a rotation started now would do, with read calls only (rotation.Plan).
func dryRun(ctx context.Context, stdout io.Writer, f rotateFlags, ff fleetFlags) error {
	cfg, err := loadAWS(ctx)
	if err != nil {
		return err
	}
	conf, err := rotation.ConfigFromEnv(false)
	if err != nil {
		return err
	}
	hub := sfn.NewFromConfig(cfg)
	stepsIn := func(account string) (*rotation.Steps, error) {
		c, err := accountConfig(ctx, cfg, account, defaultAccountRole)
		if err != nil {
			return nil, err
		}
		s := rotation.NewSteps(c, conf, slog.New(slog.DiscardHandler))
		s.Executions = hub // lock holders are the engine's executions
		return s, nil
	}
	var inputs []rotation.Rotation
	if !ff.all {
		in, err := f.input()
		if err != nil {
			return err
		}
		inputs = append(inputs, rotation.Rotation{Input: in})
	} else {
		if inputs, err = fleetPlanInputs(ctx, cfg, f, ff); err != nil {
			return err
		}
	}
	report := dryRunReport{At: time.Now().UTC(), Users: make([]rotation.Plan, len(inputs))}
	steps := map[string]*rotation.Steps{}
	for _, in := range inputs {
		if steps[in.AccountID] == nil {
			if steps[in.AccountID], err = stepsIn(in.AccountID); err != nil {
				return err
			}
		}
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for range min(planWorkers, len(inputs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				in := inputs[i]
				account := in.AccountID
				in.AccountID = "" // the steps already act in the account
				p, err := steps[account].Plan(ctx, in)
				p.Account = account
				mu.Lock()
				report.Users[i] = p
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("plan the rotation of %s%s: %w", in.UserName, inAccount(account), err)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range inputs {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	for _, p := range report.Users {
		report.Planned++
		if p.Refused != nil {
			report.Refused++
		}
		if p.ExtendsGrace {
			report.InUse++
		}
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else {
		printPlans(stdout, report)
	}
	if report.Refused > 0 {
		return &failedError{msg: fmt.Sprintf("%d of %d rotations would be refused", report.Refused, report.Planned)}
	}
	return nil
}

// fleetPlanInputs are the inputs the fleet would give its rotations: each managed user (under
// --path) of the engine's account, or of each --account and --organizational-unit account,
// with the parameter and format its tags name and the waits of the flags.
func fleetPlanInputs(ctx context.Context, cfg aws.Config, f rotateFlags, ff fleetFlags) ([]rotation.Rotation, error) {
	in, err := ff.input(f)
	if err != nil {
		return nil, err
	}
	path := in.PathPrefix
	if path == "" {
		if path = os.Getenv(fleet.EnvUserPath); path == "" {
			path = "/"
		}
	}
	accounts := []string{""}
	if len(in.AccountIDs) > 0 || in.OrganizationalUnitID != "" {
		if accounts, err = fleet.FleetAccounts(ctx, organizations.NewFromConfig(cfg), in.AccountIDs, in.OrganizationalUnitID); err != nil {
			return nil, err
		}
	}
	var inputs []rotation.Rotation
	for _, account := range accounts {
		c, err := accountConfig(ctx, cfg, account, defaultAccountRole)
		if err != nil {
			return nil, err
		}
		users, err := fleet.ManagedUsers(ctx, iam.NewFromConfig(c), path)
		if err != nil {
			return nil, fmt.Errorf("list the managed users%s: %w", inAccount(account), err)
		}
		for _, u := range users {
			inputs = append(inputs, rotation.Rotation{
				Input: rotation.Input{UserName: u.UserName, ParameterName: u.ParameterName, Format: u.Format, GraceSeconds: in.GraceSeconds, InactiveSeconds: in.InactiveSeconds, AccountID: account},
			})
		}
	}
	return inputs, nil
}

// printPlans writes one block per user: refused and why, or the keys it would create,
// deactivate and delete, with each old key's last use.
func printPlans(w io.Writer, r dryRunReport) {
	fmt.Fprintf(w, "dry run at %s: what a rotation started now would do (nothing was changed)\n", r.At.Format(time.RFC3339))
	for _, p := range r.Users {
		who := p.UserName + inAccount(p.Account)
		if p.Refused != nil {
			fmt.Fprintf(w, "✘ %s  refused: %s: %s\n", who, p.Refused.Error, p.Refused.Cause)
			continue
		}
		fmt.Fprintf(w, "✔ %s  → %s (%s)\n", who, p.ParameterName, p.Format)
		if p.BreaksStaleLockOf != "" {
			fmt.Fprintf(w, "    break the stale lock of %s\n", p.BreaksStaleLockOf)
		}
		for _, id := range p.DeleteFirst {
			fmt.Fprintf(w, "    delete %s first (inactive, or abandoned by an ended rotation)\n", id)
		}
		fmt.Fprintln(w, "    create a new key, store it, verify it with STS")
		for _, k := range p.Retire {
			end := "then delete it"
			if !k.Delete {
				end = "then keep it inactive (keyrotor never recorded it)"
			}
			used := "never used"
			if k.LastUsed != nil {
				used = fmt.Sprintf("last used %s–%s (%s; IAM records one use per 15 minutes)", k.LastUsed.Format(time.RFC3339), k.LastUsedUntil.Format("15:04Z"), k.LastUsedService)
			}
			fmt.Fprintf(w, "    deactivate %s (%s) after %ds, %s after %ds; %s\n", k.AccessKeyID, k.Status, p.GraceSeconds, end, p.InactiveSeconds, used)
		}
		if p.ExtendsGrace {
			fmt.Fprintf(w, "    in use: deactivation waits %ds more each time an old key was used after the new key is verified (at most %d times)\n", p.ExtendSeconds, rotation.MaxExtensions)
		}
	}
	fmt.Fprintf(w, "%d users: %d would rotate, %d would be refused, %d with an old key in use\n", r.Planned, r.Planned-r.Refused, r.Refused, r.InUse)
	if r.Refused > 0 {
		var names []string
		for _, p := range r.Users {
			if p.Refused != nil {
				names = append(names, p.UserName+" ("+p.Refused.Error+")")
			}
		}
		fmt.Fprintf(w, "refused: %s\n", strings.Join(names, ", "))
	}
}
