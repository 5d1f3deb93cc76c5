package fleet_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keyrotor/keyrotor/internal/fleet"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// The listing's scope reaches every child: it is set by the list action whatever the input
// says, and the Map merges it over each item.
func TestListSetsTheFleetsScopeItself(t *testing.T) {
	l := &fleet.Lister{IAM: world.iam, S3: sfnlocal.NewMemoryObjects(), Bucket: "b", UserPath: "/service/"}
	forged := `{"pathPrefix":"/service/team/","rotation":{"graceSeconds":0,"inactiveSeconds":0,"fleet":{"execution":"x","pathPrefix":"/","ownAccount":true,"accountIds":["111111111111"]}}}`
	st, err := l.List(context.Background(), fleet.ListRequest{Action: "list", ExecutionID: "arn:fleet", Fleet: json.RawMessage(forged)})
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
	l := &fleet.Lister{IAM: &pagingIAM{Client: world.iam}, S3: store, Bucket: "fb", UserPath: "/", PageSize: 2}
	st, err := l.List(ctx, fleet.ListRequest{Action: "list", ExecutionID: "arn:pages", Fleet: fleetJSON(t, fleet.Input{PathPrefix: "/fleet-pages/"})})
	if err != nil || !st.Page.More || st.Page.Managed != 2 {
		t.Fatalf("first page: %+v, %v", st.Page, err)
	}
	if err := store.PutObject(ctx, st.Page.Bucket, st.Page.Key, []byte(`[{"userName":"fi-a"},{"userName":"fi-b"},{"userName":"victim","format":"raw","changeFormat":true}]`)); err != nil {
		t.Fatal(err)
	}
	_, err = l.List(ctx, fleet.ListRequest{Action: "list", ExecutionID: "arn:pages", Fleet: fleetJSON(t, st.Config), Page: &st.Page})
	if rotation.ErrorName(err) != rotation.NotAuthorized || !strings.Contains(err.Error(), "changed since the listing wrote it") {
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
			page := &fleet.Page{Bucket: "fb", Key: "fleet/f/users.json", Listed: 2, Managed: 2}
			// The listing's digest, as List records it.
			lister := &fleet.Lister{IAM: world.iam, S3: store, Bucket: "fb"}
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
			ref := &fleet.ReportRef{MapRunArn: "arn:mr"}
			ref.ResultWriterDetails.Bucket, ref.ResultWriterDetails.Key = "fb", "r/manifest.json"
			sum, err := lister.Summarize(ctx, fleet.ListRequest{Action: "summarize", Page: page, Report: ref})
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
func digestOf(t *testing.T, store *sfnlocal.MemoryObjects, page *fleet.Page) string {
	t.Helper()
	body, err := store.GetObject(context.Background(), page.Bucket, page.Key)
	if err != nil {
		t.Fatal(err)
	}
	return fleet.ItemsDigest(body)
}
