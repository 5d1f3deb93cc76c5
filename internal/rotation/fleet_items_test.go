package rotation_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keyrotor/keyrotor/internal/rotation"
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
			r := rotation.Rotation{Input: rotation.Input{UserName: f.user, GraceSeconds: zero(), InactiveSeconds: zero()}, Fleet: scope(nil)}
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

// tag is an IAM tag.
func tag(k, v string) iamtypes.Tag { return iamtypes.Tag{Key: aws.String(k), Value: aws.String(v)} }
