package rotation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
//   - each child's rotation input carries the fleet's scope (FleetRotation.Fleet), which the
//     Map merges over the item so that no item can replace it; Begin then rechecks the item as
//     the listing would have written it (checkFleetItem): the user is under the fleet's path,
//     in an account the fleet lists, tagged managed, and the item holds no field the listing
//     does not write and no value other than the user's own tags give;
//   - the listing records the users object's digest in the fleet's state (FleetPage.Digest),
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

// scopeOf is the scope of the fleet execution with the validated configuration f.
func scopeOf(execution string, f Fleet) *FleetScope {
	return &FleetScope{Execution: execution, PathPrefix: f.PathPrefix, AccountIDs: slices.Clone(f.AccountIDs),
		OwnAccount: len(f.AccountIDs) == 0 && f.OrganizationalUnitID == ""}
}

// itemsDigest is the SHA-256 of a users object's bytes.
func itemsDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// unchanged fails NotAuthorized when the users object is not the one the listing last wrote.
func (p FleetPage) unchanged(body []byte) error {
	if p.Digest == "" || itemsDigest(body) == p.Digest {
		return nil
	}
	return newError(NotAuthorized, nil,
		"the fleet's users object s3://%s/%s was changed since the listing wrote it (something other than listusers wrote the fleet bucket); the listing stops before any rotation starts. Check the bucket's policy (OnlyTheListingWritesItems) and who wrote the object (CloudTrail data events), then start the fleet again",
		p.Bucket, p.Key)
}

// fleetWritten are the fields of a users-object item (FleetUser); the fleet's FleetRotation
// fields are merged over it.
var fleetWritten = []string{"userName", "parameterName", "format", "accountId"}

// checkFleetItem rechecks, in Begin, the input of a rotation that a fleet started (claimed
// carries the fleet's scope) against what the fleet's listing writes for the user: nothing
// else may steer a fleet's rotation. Fields the listing never writes are InvalidInput; a user
// outside the scope, or values other than the user's own tags give, NotAuthorized.
func checkFleetItem(claimed Rotation, user *iamtypes.User, tags map[string]string) error {
	f := claimed.Fleet
	refuse := func(name, format string, args ...any) error {
		return newError(name, nil, "the fleet's listing did not write this item of IAM user %s%s: %s. Nothing was changed; something other than listusers wrote the users object of fleet %s — check the fleet bucket's policy (OnlyTheListingWritesItems) and who wrote the object (CloudTrail data events)",
			claimed.UserName, inAccount(claimed.AccountID), fmt.Sprintf(format, args...), f.Execution)
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

// fleetShared are the fields of a child's input the fleet merges over the item.
var fleetShared = []string{"graceSeconds", "inactiveSeconds", "fleet"}

// itemKey is an item in a form that compares equal for equal items: its fields other than the
// fleet's shared ones, keys sorted ("" when it is no JSON object).
func itemKey(item json.RawMessage) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal(item, &fields) != nil || fields == nil {
		return ""
	}
	for _, f := range fleetShared {
		delete(fields, f)
	}
	b, _ := json.Marshal(fields) // map keys sorted; values as they came
	return string(b)
}

// notListed counts the items the Map ran (each child's input, {userName, input}) that the
// listing did not write, and describes them for the summary ("" when every item ran was
// listed, once).
func (l *Lister) notListed(ctx context.Context, page FleetPage, ran []string) (int, string, error) {
	body, err := l.S3.GetObject(ctx, page.Bucket, page.Key)
	if err != nil {
		return 0, "", classify(err, "read the fleet's users object s3://"+page.Bucket+"/"+page.Key)
	}
	changed := page.unchanged(body) != nil
	// n: items run that the listing did not write; missing: items it wrote that were not run.
	n, missing := max(0, len(ran)-page.Managed), max(0, page.Managed-len(ran))
	if !changed {
		// The object is the listing's: match each item run with one it wrote.
		var items []json.RawMessage
		_ = json.Unmarshal(body, &items)
		listed := map[string]int{}
		for _, it := range items {
			listed[itemKey(it)]++
		}
		n, missing = 0, 0
		for _, in := range ran {
			var child struct {
				Input json.RawMessage `json:"input"`
			}
			key := ""
			if json.Unmarshal([]byte(in), &child) == nil {
				key = itemKey(child.Input)
			}
			if key != "" && listed[key] > 0 {
				listed[key]--
				continue
			}
			n++
		}
		for _, left := range listed {
			missing += left
		}
	}
	if !changed && n == 0 && missing == 0 {
		return 0, "", nil
	}
	what := fmt.Sprintf("the Map ran %d items but the listing wrote %d", len(ran), page.Managed)
	if changed {
		what += fmt.Sprintf(", and the users object s3://%s/%s is not the one the listing wrote", page.Bucket, page.Key)
	}
	return n, fmt.Sprintf("%s: %d items the listing did not write were run, %d it wrote were not. Each rotation rechecks its item (one that is not the listing's fails NotAuthorized or InvalidInput, see failed), but something other than listusers wrote the fleet bucket: check its policy (OnlyTheListingWritesItems) and who wrote the object (CloudTrail data events), and start the fleet again for the users it did not rotate",
		what, n, missing), nil
}
