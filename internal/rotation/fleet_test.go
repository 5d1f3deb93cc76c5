package rotation_test

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

	"github.com/keyrotor/keyrotor/internal/lambdamain"
	"github.com/keyrotor/keyrotor/internal/rotation"
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

// listAll calls List until the listing is complete, as the fleet state machine loops.
func listAll(t *testing.T, l *rotation.Lister, in rotation.Fleet) (rotation.Fleet, int) {
	t.Helper()
	calls := 0
	for {
		out, err := l.List(context.Background(), rotation.ListRequest{Action: "list", ExecutionID: "fleet-test", Fleet: in})
		calls++
		if err != nil {
			t.Fatal(err)
		}
		if !out.More {
			return out, calls
		}
		in = out
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
	l := &rotation.Lister{IAM: paging, UserPath: "/", PageSize: 2}
	got, calls := listAll(t, l, rotation.Fleet{PathPrefix: "/fleet-list/"})
	want := []rotation.FleetUser{{UserName: "fl-a"}, {UserName: "fl-b", ParameterName: "/keyrotor/apps/b", Format: "raw"}, {UserName: "fl-c"}}
	slices.SortFunc(got.Users, func(a, b rotation.FleetUser) int { return strings.Compare(a.UserName, b.UserName) })
	if !slices.Equal(got.Users, want) {
		t.Errorf("listed %+v, want %+v", got.Users, want)
	}
	if got.Listed != 6 || calls != 3 || paging.pages != 3 || got.Marker != "" {
		t.Errorf("listed %d users in %d calls, %d pages (marker %q), want 6 in 3 pages of 2", got.Listed, calls, paging.pages, got.Marker)
	}
	if *got.MaxConcurrency != rotation.DefaultFleetConcurrency || *got.ToleratedFailurePercentage != rotation.DefaultToleratedFailurePercentage ||
		got.Rotation.GraceSeconds != rotation.DefaultGraceSeconds || got.Rotation.InactiveSeconds != rotation.DefaultInactiveSeconds {
		t.Errorf("defaults %+v %+v", got, got.Rotation)
	}
}

func TestListValidatesTheFleetInput(t *testing.T) {
	l := &rotation.Lister{IAM: world.iam, UserPath: "/service/"}
	n := func(v int) *int { return &v }
	tests := []struct {
		name string
		in   rotation.Fleet
		want string // "" when valid
	}{
		{"defaults", rotation.Fleet{}, ""},
		{"waits move into the rotation", rotation.Fleet{GraceSeconds: n(0), InactiveSeconds: n(60)}, ""},
		{"concurrency 0", rotation.Fleet{MaxConcurrency: n(0)}, "maxConcurrency 0 must be between 1 and 1000"},
		{"percentage 101", rotation.Fleet{ToleratedFailurePercentage: n(101)}, "toleratedFailurePercentage 101"},
		{"grace too long", rotation.Fleet{GraceSeconds: n(rotation.MaxGraceSeconds + 1)}, "graceSeconds"},
		{"path outside the engine's", rotation.Fleet{PathPrefix: "/other/"}, `pathPrefix "/other/" must be an IAM path`},
		{"path without slash", rotation.Fleet{PathPrefix: "/service/team"}, `pathPrefix "/service/team"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := l.List(context.Background(), rotation.ListRequest{Action: "list", ExecutionID: "x", Fleet: tt.in})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if out.GraceSeconds != nil || out.InactiveSeconds != nil || out.Rotation == nil {
					t.Errorf("the waits must end up in rotation only: %+v", out)
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
	h := lambdamain.Adapt(slog.New(slog.DiscardHandler), "a fleet listing request", (&rotation.Lister{IAM: world.iam}).Serve)
	for _, event := range []string{`{"action":"create","executionId":"x","fleet":{}}`, `{"action":"list","fleet":{"userName":"x"}}`} {
		_, err := h(context.Background(), json.RawMessage(event))
		if err == nil || !strings.Contains(err.Error(), rotation.InvalidInput) {
			t.Errorf("%s: got %v, want an InvalidInput error", event, err)
		}
	}
}

// The engine module's schedule sends fleet_input as Terraform encodes an object with optional
// attributes: unset ones are null.
func TestListAcceptsTheScheduleInputWithNulls(t *testing.T) {
	h := lambdamain.Adapt(slog.New(slog.DiscardHandler), "a fleet listing request", (&rotation.Lister{IAM: world.iam, UserPath: "/"}).Serve)
	event := `{"action":"list","executionId":"x","fleet":{"graceSeconds":0,"inactiveSeconds":null,"maxConcurrency":null,"pathPrefix":null,"toleratedFailurePercentage":5}}`
	out, err := h(context.Background(), json.RawMessage(event))
	if err != nil {
		t.Fatal(err)
	}
	if *out.MaxConcurrency != rotation.DefaultFleetConcurrency || *out.ToleratedFailurePercentage != 5 || out.PathPrefix != "/" ||
		out.Rotation.GraceSeconds != 0 || out.Rotation.InactiveSeconds != rotation.DefaultInactiveSeconds {
		t.Fatalf("fleet %+v rotation %+v", out, out.Rotation)
	}
}
