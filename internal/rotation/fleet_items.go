package rotation

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// The fleet's items are the listing's own (issue 24, finding 7). The users object in the fleet
// bucket is read by the Map's ItemReader, so whoever could write it could add rotation inputs:
// the bucket policy lets only listusers write it (infra/modules/engine/fleet.tf,
// OnlyTheListingWritesItems), and, should anything else write it anyway, nothing it adds is
// acted on:
//   - each child's rotation input carries the fleet's scope (internal/fleet Shared.Fleet), which the
//     Map merges over the item so that no item can replace it; Begin then rechecks the item as
//     the listing would have written it (checkFleetItem): the user is under the fleet's path,
//     in an account the fleet lists, tagged managed, and the item holds no field the listing
//     does not write and no value other than the user's own tags give;
//   - the listing records the users object's digest in the fleet's state (internal/fleet Page.Digest),
//     which nothing but the state machine writes: the next page refuses an object changed
//     since, and the summary flags every item the Map ran that the listing did not write.

// FleetScope is what a fleet's listing covered; every child's rotation input carries it.
type FleetScope struct {
	// Execution is the fleet execution that listed the users.
	Execution string `json:"execution"`
	// PathPrefix is the IAM path the fleet listed users under.
	PathPrefix string `json:"pathPrefix"`
	// AccountIDs are the member accounts listed; OwnAccount says the engine's own account was
	// listed (a fleet without accountIds or organizationalUnitId).
	AccountIDs []string `json:"accountIds,omitempty"`
	OwnAccount bool     `json:"ownAccount"`
}

// fleetWritten are the fields of a users-object item (internal/fleet User); the fleet's Shared
// fields are merged over it.
var fleetWritten = []string{"userName", "parameterName", "format", "accountId"}

// checkFleetItem rechecks, in Begin, the input of a rotation that a fleet started (claimed
// carries the fleet's scope) against what the fleet's listing writes for the user: nothing
// else may steer a fleet's rotation. Fields the listing never writes are InvalidInput; a user
// outside the scope, or values other than the user's own tags give, NotAuthorized.
func checkFleetItem(claimed Rotation, user *iamtypes.User, tags map[string]string) error {
	f := claimed.Fleet
	refuse := func(name, format string, args ...any) error {
		return NewError(name, nil, "the fleet's listing did not write this item of IAM user %s%s: %s. Nothing was changed; something other than listusers wrote the users object of fleet %s — check the fleet bucket's policy (OnlyTheListingWritesItems) and who wrote the object (CloudTrail data events)",
			claimed.UserName, InAccount(claimed.AccountID), fmt.Sprintf(format, args...), f.Execution)
	}
	var foreign []string
	for _, c := range []struct {
		field string
		set   bool
	}{{"move", claimed.Move}, {"changeFormat", claimed.ChangeFormat}, {"sesRegion", claimed.SESRegion != ""}} {
		if c.set {
			foreign = append(foreign, c.field)
		}
	}
	if len(foreign) > 0 {
		return refuse(InvalidInput, "it sets %s, which the listing never writes (it writes %s)", strings.Join(foreign, ", "), strings.Join(fleetWritten, ", "))
	}
	if claimed.AccountID == "" && !f.OwnAccount || claimed.AccountID != "" && !slices.Contains(f.AccountIDs, claimed.AccountID) {
		listed := strings.Join(f.AccountIDs, ", ")
		if f.OwnAccount {
			listed = "the engine's own account"
		}
		if listed == "" {
			listed = "no account"
		}
		return refuse(NotAuthorized, "the fleet listed %s", listed)
	}
	if path := aws.ToString(user.Path); !strings.HasPrefix(path, f.PathPrefix) {
		return refuse(NotAuthorized, "the user's IAM path %s is outside the fleet's pathPrefix %s", path, f.PathPrefix)
	}
	for _, c := range []struct{ field, claimed, tag string }{
		{"parameterName", claimed.ParameterName, ParameterTagKey},
		{"format", claimed.Format, FormatTagKey},
	} {
		if c.claimed != tags[c.tag] {
			return refuse(NotAuthorized, "its %s is %q, but the listing writes the user's %s tag (%q)", c.field, c.claimed, c.tag, tags[c.tag])
		}
	}
	return nil
}
