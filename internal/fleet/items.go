package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// The listing's half of keeping the fleet's items its own (the other half, Begin's recheck of
// each item, is internal/rotation fleet_items.go): the scope it writes over every item, the
// digest of the users object it wrote, and the summary's count of items it did not write.

// scopeOf is the scope of the fleet execution with the validated configuration f.
func scopeOf(execution string, f Input) *rotation.FleetScope {
	return &rotation.FleetScope{Execution: execution, PathPrefix: f.PathPrefix, AccountIDs: slices.Clone(f.AccountIDs),
		OwnAccount: len(f.AccountIDs) == 0 && f.OrganizationalUnitID == ""}
}

// itemsDigest is the SHA-256 of a users object's bytes.
func itemsDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// unchanged fails NotAuthorized when the users object is not the one the listing last wrote.
func (p Page) unchanged(body []byte) error {
	if p.Digest == "" || itemsDigest(body) == p.Digest {
		return nil
	}
	return rotation.NewError(rotation.NotAuthorized, nil,
		"the fleet's users object s3://%s/%s was changed since the listing wrote it (something other than listusers wrote the fleet bucket); the listing stops before any rotation starts. Check the bucket's policy (OnlyTheListingWritesItems) and who wrote the object (CloudTrail data events), then start the fleet again",
		p.Bucket, p.Key)
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
func (l *Lister) notListed(ctx context.Context, page Page, ran []string) (int, string, error) {
	body, err := l.S3.GetObject(ctx, page.Bucket, page.Key)
	if err != nil {
		return 0, "", rotation.Classify(err, "read the fleet's users object s3://"+page.Bucket+"/"+page.Key)
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
	return n, fmt.Sprintf("%s: %d items the listing did not write were run, %d it wrote were not. Each rotation rechecks its item (one that is not the listing's fails rotation.NotAuthorized or rotation.InvalidInput, see failed), but something other than listusers wrote the fleet bucket: check its policy (OnlyTheListingWritesItems) and who wrote the object (CloudTrail data events), and start the fleet again for the users it did not rotate",
		what, n, missing), nil
}
