package fleet_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keyrotor/keyrotor/internal/fleet"
	"github.com/keyrotor/keyrotor/internal/lambdamain"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// pagingIAM pages ListUsers as IAM does (MaxItems, Marker, IsTruncated): moto 5.2 answers
// every user at once, so the Marker loop would otherwise never run.
type pagingIAM struct {
	*iam.Client
	pages int
}

func (p *pagingIAM) ListUsers(ctx context.Context, in *iam.ListUsersInput, opts ...func(*iam.Options)) (*iam.ListUsersOutput, error) {
	all, err := p.Client.ListUsers(ctx, &iam.ListUsersInput{PathPrefix: in.PathPrefix}, opts...)
	if err != nil {
		return nil, err
	}
	p.pages++
	slices.SortFunc(all.Users, func(a, b iamtypes.User) int {
		return strings.Compare(aws.ToString(a.UserName), aws.ToString(b.UserName))
	})
	from := 0
	if in.Marker != nil {
		from, _ = strconv.Atoi(aws.ToString(in.Marker))
	}
	to := min(len(all.Users), from+int(aws.ToInt32(in.MaxItems)))
	out := &iam.ListUsersOutput{Users: all.Users[from:to], IsTruncated: to < len(all.Users)}
	if out.IsTruncated {
		out.Marker = aws.String(strconv.Itoa(to))
	}
	return out, nil
}

func tag(k, v string) iamtypes.Tag { return iamtypes.Tag{Key: aws.String(k), Value: aws.String(v)} }

func fleetJSON(t *testing.T, f fleet.Input) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// listAll calls List until the listing is complete, as the fleet state machine loops, and
// returns the final state and the users object.
func listAll(t *testing.T, l *fleet.Lister, in fleet.Input) (fleet.State, []fleet.User, int) {
	t.Helper()
	calls := 0
	req := fleet.ListRequest{Action: "list", ExecutionID: "arn:aws:states:us-east-1:123456789012:execution:keyrotor-rotate-fleet:fleet-test", Fleet: fleetJSON(t, in)}
	for {
		st, err := l.List(context.Background(), req)
		calls++
		if err != nil {
			t.Fatal(err)
		}
		if !st.Page.More {
			body, err := l.S3.GetObject(context.Background(), st.Page.Bucket, st.Page.Key)
			if err != nil {
				t.Fatal(err)
			}
			var users []fleet.User
			if err := json.Unmarshal(body, &users); err != nil {
				t.Fatal(err)
			}
			return st, users, calls
		}
		req.Fleet, req.Page = fleetJSON(t, st.Config), &st.Page
	}
}

func TestListPagesThroughUsersAndKeepsOnlyTheManagedOnes(t *testing.T) {
	ctx := context.Background()
	users := []struct {
		name, path string
		tags       []iamtypes.Tag
	}{
		{"fl-a", "/fleet-list/", []iamtypes.Tag{tag(rotation.ManagedTagKey, "true")}},
		{"fl-b", "/fleet-list/", []iamtypes.Tag{tag(rotation.ManagedTagKey, "true"), tag(rotation.ParameterTagKey, "/keyrotor/apps/b"), tag(rotation.FormatTagKey, "raw")}},
		{"fl-c", "/fleet-list/team/", []iamtypes.Tag{tag(rotation.ManagedTagKey, "true")}},
		{"fl-d", "/fleet-list/", []iamtypes.Tag{tag(rotation.ManagedTagKey, "false")}},
		{"fl-e", "/fleet-list/", []iamtypes.Tag{tag("team", "reports")}},
		{"fl-f", "/fleet-list/", nil},
		{"fl-g", "/elsewhere/", []iamtypes.Tag{tag(rotation.ManagedTagKey, "true")}},
	}
	for _, u := range users {
		if _, err := world.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(u.name), Path: aws.String(u.path), Tags: u.tags}); err != nil {
			t.Fatal(err)
		}
	}
	paging := &pagingIAM{Client: world.iam}
	l := &fleet.Lister{IAM: paging, S3: sfnlocal.NewMemoryObjects(), Bucket: "fleet-bucket", UserPath: "/", PageSize: 2}
	got, listed, calls := listAll(t, l, fleet.Input{PathPrefix: "/fleet-list/"})
	want := []fleet.User{{UserName: "fl-a"}, {UserName: "fl-b", ParameterName: "/keyrotor/apps/b", Format: "raw"}, {UserName: "fl-c"}}
	slices.SortFunc(listed, func(a, b fleet.User) int { return strings.Compare(a.UserName, b.UserName) })
	if !slices.Equal(listed, want) {
		t.Errorf("listed %+v, want %+v", listed, want)
	}
	if got.Page.Listed != 6 || got.Page.Managed != 3 || calls != 3 || paging.pages != 3 || len(got.Page.Accounts) != 0 {
		t.Errorf("listed %d users (%d managed) in %d calls, %d pages (left to list %+v), want 6 (3) in 3 pages of 2", got.Page.Listed, got.Page.Managed, calls, paging.pages, got.Page.Accounts)
	}
	if got.Page.Bucket != "fleet-bucket" || got.Page.Key != "fleet/fleet-test/users.json" || got.Page.ReportPrefix != "fleet/fleet-test/report" {
		t.Errorf("page %+v", got.Page)
	}
	c := got.Config
	if *c.MaxConcurrency != fleet.DefaultFleetConcurrency || *c.ToleratedFailurePercentage != fleet.DefaultToleratedFailurePercentage ||
		c.Rotation.GraceSeconds != rotation.DefaultGraceSeconds || c.Rotation.InactiveSeconds != rotation.DefaultInactiveSeconds {
		t.Errorf("defaults %+v %+v", c, c.Rotation)
	}
}

func TestListValidatesTheFleetInput(t *testing.T) {
	l := &fleet.Lister{IAM: world.iam, S3: sfnlocal.NewMemoryObjects(), Bucket: "b", UserPath: "/service/"}
	n := func(v int) *int { return &v }
	tests := []struct {
		name string
		in   string
		want string // "" when valid
	}{
		{"defaults", `{}`, ""},
		{"no input", ``, ""},
		{"waits move into the rotation", string(fleetJSON(t, fleet.Input{GraceSeconds: n(0), InactiveSeconds: n(60)})), ""},
		{"concurrency 0", `{"maxConcurrency":0}`, "maxConcurrency 0 must be between 1 and 1000"},
		{"percentage 101", `{"toleratedFailurePercentage":101}`, "toleratedFailurePercentage 101"},
		{"grace too long", string(fleetJSON(t, fleet.Input{GraceSeconds: n(rotation.MaxGraceSeconds + 1)})), "graceSeconds"},
		{"path outside the engine's", `{"pathPrefix":"/other/"}`, `pathPrefix "/other/" must be an IAM path`},
		{"path without slash", `{"pathPrefix":"/service/team"}`, `pathPrefix "/service/team"`},
		// Issue 17 finding 4: the fields the fleet's own states set are refused by name.
		{"users given", `{"users":[{"userName":"victim"}]}`, `field "users" is set by the fleet itself`},
		{"paging fields given", `{"marker":"x","more":true,"listed":3}`, `fields "listed", "marker", "more" are set by the fleet itself`},
		{"unknown field", `{"userName":"x"}`, `field "userName" is not a fleet setting`},
		{"not an object", `[1]`, "must be a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := l.List(context.Background(), fleet.ListRequest{Action: "list", ExecutionID: "x", Fleet: json.RawMessage(tt.in)})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if out.Config.GraceSeconds != nil || out.Config.InactiveSeconds != nil || out.Config.Rotation == nil {
					t.Errorf("the waits must end up in rotation only: %+v", out.Config)
				}
				return
			}
			if rotation.ErrorName(err) != rotation.InvalidInput || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want InvalidInput naming %q", err, tt.want)
			}
		})
	}
}

func TestListHandlerRefusesOtherEventsByName(t *testing.T) {
	h := lambdamain.Adapt(slog.New(slog.DiscardHandler), "a fleet listing request", (&fleet.Lister{IAM: world.iam}).Serve)
	for _, event := range []string{`{"action":"create","executionId":"x","fleet":{}}`, `{"action":"list","fleet":{"userName":"x"}}`, `{"action":"list","users":[]}`} {
		_, err := h(context.Background(), json.RawMessage(event))
		if err == nil || !strings.Contains(err.Error(), rotation.InvalidInput) {
			t.Errorf("%s: got %v, want an InvalidInput error", event, err)
		}
	}
}

// The engine module's schedule sends fleet_input as Terraform encodes an object with optional
// attributes: unset ones are null.
func TestListAcceptsTheScheduleInputWithNulls(t *testing.T) {
	h := lambdamain.Adapt(slog.New(slog.DiscardHandler), "a fleet listing request", (&fleet.Lister{IAM: world.iam, S3: sfnlocal.NewMemoryObjects(), Bucket: "b", UserPath: "/"}).Serve)
	event := `{"action":"list","executionId":"x","fleet":{"graceSeconds":0,"inactiveSeconds":null,"maxConcurrency":null,"pathPrefix":null,"toleratedFailurePercentage":5}}`
	res, err := h(context.Background(), json.RawMessage(event))
	if err != nil {
		t.Fatal(err)
	}
	out := (*res).(fleet.State).Config
	if *out.MaxConcurrency != fleet.DefaultFleetConcurrency || *out.ToleratedFailurePercentage != 5 || out.PathPrefix != "/" ||
		out.Rotation.GraceSeconds != 0 || out.Rotation.InactiveSeconds != rotation.DefaultInactiveSeconds {
		t.Fatalf("fleet %+v rotation %+v", out, out.Rotation)
	}
}

// Summarize reads the ResultWriter's manifest and results files
// (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html) into
// counts and the failed and skipped users, each cause on one line.
func TestSummarizeCountsTheReportAndListsFailuresOnOneLine(t *testing.T) {
	store := sfnlocal.NewMemoryObjects()
	ctx := context.Background()
	put := func(key, body string) {
		if err := store.PutObject(ctx, "fb", key, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	put("r/id/manifest.json", `{"DestinationBucket":"fb","MapRunArn":"arn:mr","ResultFiles":{"SUCCEEDED":[{"Key":"r/id/SUCCEEDED_0.json","Size":1}],"FAILED":[{"Key":"r/id/FAILED_0.json","Size":1}],"PENDING":[]}}`)
	put("r/id/SUCCEEDED_0.json", `[
		{"ExecutionArn":"c1","Status":"SUCCEEDED","Input":"{\"userName\":\"a\",\"input\":{\"userName\":\"a\",\"graceSeconds\":0}}","Output":"{\"user\":\"a\",\"status\":\"rotated\"}"},
		{"ExecutionArn":"c2","Status":"SUCCEEDED","Input":"{\"userName\":\"b\",\"input\":{\"userName\":\"b\",\"graceSeconds\":0}}","Output":"{\"user\":\"b\",\"status\":\"skipped\",\"error\":\"RotationInProgress\",\"cause\":\"locked\"}"}]`)
	put("r/id/FAILED_0.json", `[
		{"ExecutionArn":"c3","Status":"FAILED","Input":"{\"userName\":\"c\",\"input\":{\"userName\":\"c\",\"graceSeconds\":0}}","Error":"TooManyActiveKeys","Cause":"user c has two active keys\nsecond line"},
		{"ExecutionArn":"c4","Status":"ABORTED","Input":"{\"userName\":\"d\",\"input\":{\"userName\":\"d\",\"graceSeconds\":0}}"}]`)
	users := `[{"userName":"a"},{"userName":"b"},{"userName":"c"},{"userName":"d"}]`
	put("fleet/id/users.json", users)
	l := &fleet.Lister{IAM: world.iam, S3: store, Bucket: "fb"}
	ref := &fleet.ReportRef{MapRunArn: "arn:mr"}
	ref.ResultWriterDetails.Bucket, ref.ResultWriterDetails.Key = "fb", "r/id/manifest.json"
	page := &fleet.Page{Bucket: "fb", Key: "fleet/id/users.json", Listed: 5, Managed: 4, Digest: fleet.ItemsDigest([]byte(users))}
	sum, err := l.Summarize(ctx, fleet.ListRequest{Action: "summarize", Page: page, Report: ref})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Counts != (fleet.Counts{Rotated: 1, Skipped: 1, Failed: 2}) || sum.Listed != 5 || sum.Managed != 4 || sum.Report != "s3://fb/r/id/manifest.json" || sum.ItemsNotListed != "" {
		t.Fatalf("summary %+v", sum)
	}
	wantFailed := []fleet.Outcome{{User: "c", Error: "TooManyActiveKeys", Cause: "user c has two active keys", Execution: "c3"}, {User: "d", Error: "ABORTED", Execution: "c4"}}
	if !slices.Equal(sum.Failed, wantFailed) || len(sum.Skipped) != 1 || sum.Skipped[0].User != "b" {
		t.Fatalf("failed %+v skipped %+v", sum.Failed, sum.Skipped)
	}
}
