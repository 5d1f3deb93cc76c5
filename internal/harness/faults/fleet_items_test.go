package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/keyrotor/keyrotor/internal/fleet"
	"github.com/keyrotor/keyrotor/internal/harness/invariants"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/faultproxy"
)

// Issue 24, finding 7: objects written to the fleet bucket between the listing and the Map
// became rotation inputs; a user outside the fleet's path was rotated with `format: raw,
// changeFormat: true`, and the summary said "listed 1 … rotated 2" without a word. Here the
// users object is rewritten the moment listusers has written it (before its answer reaches
// the engine, so before the Map reads it): one item for a managed user outside the fleet's
// path, one that switches the listed user's format. Both are refused by the children's Begin,
// nothing of either user changes, and the summary flags the two items the listing did not
// write.
func TestFinding7_ItemsWrittenBesideTheListingAreNotRotated(t *testing.T) {
	b := bench(t, generalTimeout)
	ctx := ctxFor(t, 3*time.Minute)
	withoutFaults(t, b)
	n := b.seq.Add(1)
	path := fmt.Sprintf("/finding7-%d/", n)
	listed := pathUser(ctx, t, b, path, fmt.Sprintf("finding7-%d-listed", n))
	outsider := pathUser(ctx, t, b, fmt.Sprintf("/finding7-%d-elsewhere/", n), fmt.Sprintf("finding7-%d-outsider", n))
	outsiderKeys := keyStatuses(ctx, t, b, outsider.UserName)

	name := fmt.Sprintf("finding7-%d", n)
	key := "fleet/" + name + "/users.json"
	objects := s3.NewFromConfig(b.Env.Moto.AdminConfig(), func(o *s3.Options) { o.UsePathStyle = true }) // straight to moto
	var tampered atomic.Bool
	tamperErr := make(chan error, 1)
	// The first S3 call of the fleet is listusers' PutObject of the first (here the only) page.
	b.Env.Proxy.AddRule(faultproxy.Rule{Service: "s3", Times: 1, Fault: faultproxy.Pass, Report: func(faultproxy.Call) {
		tamperErr <- func() error {
			out, err := objects.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.Env.FleetBucket()), Key: aws.String(key)})
			if err != nil {
				return err
			}
			defer out.Body.Close()
			body, err := io.ReadAll(out.Body)
			if err != nil {
				return err
			}
			var items []map[string]any
			if err := json.Unmarshal(body, &items); err != nil {
				return fmt.Errorf("users object %s: %w", body, err)
			}
			items = append(items,
				map[string]any{"userName": outsider.UserName},
				map[string]any{"userName": listed.UserName, "format": rotation.FormatRaw, "changeFormat": true})
			forged, _ := json.Marshal(items)
			if _, err := objects.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b.Env.FleetBucket()), Key: aws.String(key),
				Body: strings.NewReader(string(forged))}); err != nil {
				return err
			}
			tampered.Store(true)
			return nil
		}()
	}})

	from := len(b.Env.Logs())
	// One rotation at a time: the forged item of the listed user comes after its own rotation.
	arn, err := b.Env.StepFunctions.StartExecution(ctx, b.Env.FleetStateMachineARN(), name,
		rotationInput(map[string]any{"pathPrefix": path, "graceSeconds": 0, "inactiveSeconds": 0, "maxConcurrency": 1}))
	if err != nil {
		t.Fatal(err)
	}
	run, err := b.Wait(ctx, arn, from)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-tamperErr:
		if err != nil || !tampered.Load() {
			t.Fatalf("the users object was not rewritten between the listing and the Map: %v", err)
		}
	default:
		t.Fatal("the fleet made no S3 call through the proxy: the users object was not rewritten")
	}
	if run.Status != "SUCCEEDED" {
		t.Fatalf("fleet ended %s %s: %s", run.Status, run.Error, run.Cause)
	}
	var sum fleet.Summary
	if err := json.Unmarshal(run.Output, &sum); err != nil {
		t.Fatalf("fleet output %s: %v", run.Output, err)
	}
	t.Logf("summary: %s", run.Output)
	if sum.Managed != 1 || sum.Counts != (fleet.Counts{Rotated: 1, Failed: 2}) {
		t.Errorf("managed %d, counts %+v; want 1 listed, 1 rotated, the 2 forged items failed", sum.Managed, sum.Counts)
	}
	failed := map[string]fleet.Outcome{}
	for _, f := range sum.Failed {
		failed[f.User+"/"+f.Error] = f
	}
	for _, want := range []struct{ user, err, says string }{
		{outsider.UserName, rotation.NotAuthorized, "outside the fleet's pathPrefix " + path},
		{listed.UserName, rotation.InvalidInput, "changeFormat"},
	} {
		if f, ok := failed[want.user+"/"+want.err]; !ok || !strings.Contains(f.Cause, want.says) || !strings.Contains(f.Cause, "did not write this item") {
			t.Errorf("summary's failed %+v: want %s refused %s saying %q", sum.Failed, want.user, want.err, want.says)
		}
	}
	if sum.NotListed != 2 || !strings.Contains(sum.ItemsNotListed, "the Map ran 3 items but the listing wrote 1") {
		t.Errorf("summary flags %d items not listed (%q); want 2, ran 3 of 1 listed", sum.NotListed, sum.ItemsNotListed)
	}
	// Nothing of the outsider changed; both consumers still authenticate, the listed user's in
	// its JSON format.
	if after := keyStatuses(ctx, t, b, outsider.UserName); !maps.Equal(outsiderKeys, after) {
		t.Errorf("the outsider's keys %v became %v", outsiderKeys, after)
	}
	consumerAuthenticates(ctx, t, b, outsider)
	consumerAuthenticates(ctx, t, b, listed)
}

// pathUser creates a managed user under path with one key in its default parameter.
func pathUser(ctx context.Context, t *testing.T, b *Bench, path, user string) invariants.Target {
	t.Helper()
	if _, err := b.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user), Path: aws.String(path),
		Tags: []iamtypes.Tag{{Key: aws.String(rotation.ManagedTagKey), Value: aws.String(rotation.ManagedTagValue)}}}); err != nil {
		t.Fatal(err)
	}
	k, err := b.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	tg := invariants.Target{UserName: user, ParameterName: b.Env.ParameterPrefix + user, Format: rotation.FormatJSON}
	if err := b.StoreKey(ctx, tg.ParameterName, aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)); err != nil {
		t.Fatal(err)
	}
	return tg
}

// keyStatuses is the user's keys, id → status.
func keyStatuses(ctx context.Context, t *testing.T, b *Bench, user string) map[string]iamtypes.StatusType {
	t.Helper()
	out, err := b.iam.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]iamtypes.StatusType{}
	for _, k := range out.AccessKeyMetadata {
		keys[aws.ToString(k.AccessKeyId)] = k.Status
	}
	return keys
}
