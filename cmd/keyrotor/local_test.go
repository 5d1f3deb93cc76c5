package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keyrotor/keyrotor/internal/harness/testutil"
	"github.com/keyrotor/keyrotor/internal/localenv"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/internal/schedule"
	"github.com/keyrotor/keyrotor/localaws/logbuffer"
)

func TestScheduleRotatesTheUserAtItsFireTimeAndReportsTheOutcome(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	user := "e2e-scheduled"
	if _, err := env.CreateManagedUser(ctx, localenv.ManagedUser{Name: user, Keys: 1}); err != nil {
		t.Fatal(err)
	}
	fire := time.Now().UTC().Add(3 * time.Second).Truncate(time.Second)
	s, err := schedule.Parse("at("+fire.Format("2006-01-02T15:04:05")+")", nil)
	if err != nil {
		t.Fatal(err)
	}
	var out logbuffer.Buffer
	zero := 0
	// Returns once the one-time schedule has fired.
	runSchedule(ctx, &out, env, s, rotation.Input{UserName: user, GraceSeconds: &zero, InactiveSeconds: &zero})
	testutil.WaitFor(t, time.Minute, "the scheduled rotation's report", func() bool { return strings.Contains(out.String(), "rotation arn:") })
	got := out.String()
	for _, want := range []string{"next rotation of " + user + " at " + fire.Format(time.RFC3339), "started arn:aws:states:", "succeeded: new access key AKIA", "has no more fire times"} {
		if !strings.Contains(got, want) {
			t.Errorf("schedule output lacks %q:\n%s", want, got)
		}
	}
}

// local up says where the local engine departs from a deployed one, with the deployed values
// read from the Terraform variables.
func TestLocalUpSaysWhereItDiffersFromADeployedEngine(t *testing.T) {
	d := deployedDefaults(t)
	var out strings.Builder
	printUp(&out, env, d)
	printDifferences(&out, env, d)
	got := out.String()
	for _, want := range []string{
		"--path /keyrotor/ --tags Key=keyrotor:managed,Value=true",
		"wait floors   0s grace, 0s inactive (deployed: min_grace_seconds 1800, min_inactive_seconds 3600)",
		"user path     users under / are rotated (deployed: managed_user_path /keyrotor/;",
		"default to 3600s and 86400s, as deployed",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("local up's banner lacks %q:\n%s", want, got)
		}
	}
}
