package rotation_test

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// Issue 24, finding 7: an item written into the fleet's users object by anything but the
// listing became a rotation input. A fleet's child now carries the fleet's scope, and Begin
// rechecks the item as the listing would have written it: each forged item is refused by name
// and changes nothing (no lock, the same keys).
func TestFleetChildRotatesOnlyWhatTheListingWrote(t *testing.T) {
	const path = "/fleet-items/"
	scope := func(mod func(*rotation.FleetScope)) *rotation.FleetScope {
		s := &rotation.FleetScope{Execution: "arn:aws:states:us-east-1:123456789012:execution:keyrotor-rotate-fleet:f7", PathPrefix: path, OwnAccount: true}
		if mod != nil {
			mod(s)
		}
		return s
	}
	tests := []struct {
		name     string
		userPath string
		tags     []iamtypes.Tag // besides keyrotor:managed=true
		item     func(r *rotation.Rotation)
		want     string // error name; "" begins
		says     string
	}{
		{"the listing's item", path, nil, func(r *rotation.Rotation) {}, "", ""},
		{"the listing's item with the user's tags", path + "team/", []iamtypes.Tag{tag(rotation.FormatTagKey, rotation.FormatJSON)},
			func(r *rotation.Rotation) { r.Format = rotation.FormatJSON }, "", ""},
		{"a user outside the fleet's path", "/elsewhere/", nil, func(r *rotation.Rotation) {}, rotation.NotAuthorized, "outside the fleet's pathPrefix " + path},
		{"a format switch", path, nil, func(r *rotation.Rotation) { r.Format, r.ChangeFormat = rotation.FormatRaw, true }, rotation.InvalidInput, "changeFormat"},
		{"a move", path, nil, func(r *rotation.Rotation) { r.Move = true }, rotation.InvalidInput, "move"},
		{"a format the tags do not give", path, nil, func(r *rotation.Rotation) { r.Format = rotation.FormatRaw }, rotation.NotAuthorized, `its format is "raw"`},
		{"a parameter other than the user's own", path, nil, func(r *rotation.Rotation) { r.ParameterName = rotation.DefaultParameterPrefix + "elsewhere" }, rotation.NotAuthorized, "parameterName"},
		{"an account the fleet did not list", path, nil, func(r *rotation.Rotation) {
			r.AccountID = "111111111111"
		}, rotation.NotAuthorized, "the fleet listed the engine's own account"},
		{"the engine's account in a fleet of member accounts", path, nil, func(r *rotation.Rotation) {
			r.Fleet = scope(func(s *rotation.FleetScope) { s.OwnAccount, s.AccountIDs = false, []string{"111111111111"} })
		}, rotation.NotAuthorized, "the fleet listed 111111111111"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tags := append([]iamtypes.Tag{tag(rotation.ManagedTagKey, rotation.ManagedTagValue)}, tt.tags...)
			if _, err := world.iam.CreateUser(f.ctx, &iam.CreateUserInput{UserName: aws.String(f.user), Path: aws.String(tt.userPath), Tags: tags}); err != nil {
				t.Fatal(err)
			}
			id, secret := f.addKey(iamtypes.StatusTypeActive)
			f.seedParameter(id, secret)
			before := f.keys()
			r := rotation.Rotation{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero(), Fleet: scope(nil)}
			tt.item(&r)
			out, err := f.run("begin", f.execution(), r)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("the listing's own item was refused: %v", err)
				}
				if out.Fleet == nil || out.Fleet.Execution != r.Fleet.Execution {
					t.Errorf("begin dropped the fleet's scope: %+v", out.Fleet)
				}
				return
			}
			if errorName(err) != tt.want || !strings.Contains(err.Error(), tt.says) || !strings.Contains(err.Error(), "did not write this item") {
				t.Fatalf("got %v (%s), want %s saying %q", err, errorName(err), tt.want, tt.says)
			}
			if f.lockHeld() {
				t.Error("a refused item took the lock")
			}
			if after := f.keys(); !maps.Equal(before, after) {
				t.Errorf("keys %v became %v", before, after)
			}
			if got, _ := f.storedSecret(); got != id {
				t.Errorf("the parameter holds %s, want %s", got, id)
			}
		})
	}
}

// The listing's scope reaches every child: it is set by the list action whatever the input
// says, and the Map merges it over each item.
func TestListSetsTheFleetsScopeItself(t *testing.T) {
	l := &rotation.Lister{IAM: world.iam, S3: sfnlocal.NewMemoryObjects(), Bucket: "b", UserPath: "/service/"}
	forged := `{"pathPrefix":"/service/team/","rotation":{"graceSeconds":0,"inactiveSeconds":0,"fleet":{"execution":"x","pathPrefix":"/","ownAccount":true,"accountIds":["111111111111"]}}}`
	st, err := l.List(context.Background(), rotation.ListRequest{Action: "list", ExecutionID: "arn:fleet", Fleet: json.RawMessage(forged)})
	if err != nil {
		t.Fatal(err)
	}
	got := st.Config.Rotation.Fleet
	if got == nil || got.Execution != "arn:fleet" || got.PathPrefix != "/service/team/" || !got.OwnAccount || len(got.AccountIDs) != 0 {
		t.Fatalf("scope %+v, want the listing's own (arn:fleet, /service/team/, the engine's account only)", got)
	}
}

// A users object changed between two pages of the listing stops the fleet before any rotation.
func TestListRefusesAUsersObjectChangedBetweenPages(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"fi-a", "fi-b", "fi-c"} {
		if _, err := world.iam.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name), Path: aws.String("/fleet-pages/"),
			Tags: []iamtypes.Tag{tag(rotation.ManagedTagKey, rotation.ManagedTagValue)}}); err != nil {
			t.Fatal(err)
		}
	}
	store := sfnlocal.NewMemoryObjects()
	l := &rotation.Lister{IAM: &pagingIAM{Client: world.iam}, S3: store, Bucket: "fb", UserPath: "/", PageSize: 2}
	st, err := l.List(ctx, rotation.ListRequest{Action: "list", ExecutionID: "arn:pages", Fleet: fleetJSON(t, rotation.Fleet{PathPrefix: "/fleet-pages/"})})
	if err != nil || !st.Page.More || st.Page.Managed != 2 {
		t.Fatalf("first page: %+v, %v", st.Page, err)
	}
	if err := store.PutObject(ctx, st.Page.Bucket, st.Page.Key, []byte(`[{"userName":"fi-a"},{"userName":"fi-b"},{"userName":"victim","format":"raw","changeFormat":true}]`)); err != nil {
		t.Fatal(err)
	}
	_, err = l.List(ctx, rotation.ListRequest{Action: "list", ExecutionID: "arn:pages", Fleet: fleetJSON(t, st.Config), Page: &st.Page})
	if errorName(err) != rotation.NotAuthorized || !strings.Contains(err.Error(), "changed since the listing wrote it") {
		t.Fatalf("got %v, want NotAuthorized: the users object changed", err)
	}
}

// The summary flags every item the Map ran that the listing did not write: "listed 1 …
// rotated 2" does not pass silently.
func TestSummaryFlagsItemsTheListingDidNotWrite(t *testing.T) {
	ctx := context.Background()
	listed := `[{"userName":"a"},{"userName":"b","format":"raw"}]`
	child := func(item string) string {
		var fields map[string]any
		_ = json.Unmarshal([]byte(item), &fields)
		fields["graceSeconds"], fields["inactiveSeconds"], fields["fleet"] = 0, 0, map[string]any{"execution": "arn:f", "pathPrefix": "/", "ownAccount": true}
		in, _ := json.Marshal(map[string]any{"userName": fields["userName"], "input": fields})
		return string(in)
	}
	tests := []struct {
		name      string
		object    string // the users object at the summary ("": as listed)
		ran       []string
		notListed int
		says      string // "" when nothing is flagged
	}{
		{"every item the listing's", "", []string{`{"userName":"a"}`, `{"userName":"b","format":"raw"}`}, 0, ""},
		{"an item added and the object restored", "", []string{`{"userName":"a"}`, `{"userName":"b","format":"raw"}`, `{"userName":"outsider"}`}, 1, "the Map ran 3 items but the listing wrote 2: 1 items the listing did not write were run, 0 it wrote were not"},
		{"an item changed and the object restored", "", []string{`{"userName":"a"}`, `{"userName":"b","format":"raw","changeFormat":true}`}, 1, "the Map ran 2 items but the listing wrote 2: 1 items the listing did not write were run, 1 it wrote were not"},
		{"a listed item removed", "", []string{`{"userName":"a"}`}, 0, "the Map ran 1 items but the listing wrote 2: 0 items the listing did not write were run, 1 it wrote were not"},
		{"the object changed", `[{"userName":"a"},{"userName":"b","format":"raw"},{"userName":"outsider"}]`,
			[]string{`{"userName":"a"}`, `{"userName":"b","format":"raw"}`, `{"userName":"outsider"}`}, 1, "is not the one the listing wrote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := sfnlocal.NewMemoryObjects()
			page := &rotation.FleetPage{Bucket: "fb", Key: "fleet/f/users.json", Listed: 2, Managed: 2}
			// The listing's digest, as List records it.
			lister := &rotation.Lister{IAM: world.iam, S3: store, Bucket: "fb"}
			if err := store.PutObject(ctx, "fb", page.Key, []byte(listed)); err != nil {
				t.Fatal(err)
			}
			page.Digest = digestOf(t, store, page)
			if tt.object != "" {
				_ = store.PutObject(ctx, "fb", page.Key, []byte(tt.object))
			}
			var entries []map[string]string
			for i, item := range tt.ran {
				entries = append(entries, map[string]string{"ExecutionArn": "c" + string(rune('0'+i)), "Status": "FAILED", "Input": child(item), "Error": "NotAuthorized", "Cause": "refused"})
			}
			body, _ := json.Marshal(entries)
			_ = store.PutObject(ctx, "fb", "r/FAILED_0.json", body)
			_ = store.PutObject(ctx, "fb", "r/manifest.json", []byte(`{"DestinationBucket":"fb","MapRunArn":"arn:mr","ResultFiles":{"FAILED":[{"Key":"r/FAILED_0.json"}]}}`))
			ref := &rotation.FleetReportRef{MapRunArn: "arn:mr"}
			ref.ResultWriterDetails.Bucket, ref.ResultWriterDetails.Key = "fb", "r/manifest.json"
			sum, err := lister.Summarize(ctx, rotation.ListRequest{Action: "summarize", Page: page, Report: ref})
			if err != nil {
				t.Fatal(err)
			}
			if sum.NotListed != tt.notListed || (tt.says == "") != (sum.ItemsNotListed == "") || !strings.Contains(sum.ItemsNotListed, tt.says) {
				t.Fatalf("notListed %d %q; want %d saying %q", sum.NotListed, sum.ItemsNotListed, tt.notListed, tt.says)
			}
		})
	}
}

// digestOf is the digest List records for the users object as it is now.
func digestOf(t *testing.T, store *sfnlocal.MemoryObjects, page *rotation.FleetPage) string {
	t.Helper()
	body, err := store.GetObject(context.Background(), page.Bucket, page.Key)
	if err != nil {
		t.Fatal(err)
	}
	return rotation.ItemsDigest(body)
}
