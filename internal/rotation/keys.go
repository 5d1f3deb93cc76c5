package rotation

import (
	"context"
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

type keyLister interface {
	iam.ListAccessKeysAPIClient
}

type keyDeleter interface {
	DeleteAccessKey(ctx context.Context, in *iam.DeleteAccessKeyInput, opts ...func(*iam.Options)) (*iam.DeleteAccessKeyOutput, error)
}

// listKeys returns the user's access keys, oldest first.
func listKeys(ctx context.Context, client keyLister, user string) ([]iamtypes.AccessKeyMetadata, error) {
	var keys []iamtypes.AccessKeyMetadata
	pages := iam.NewListAccessKeysPaginator(client, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			var noUser *iamtypes.NoSuchEntityException
			if errors.As(err, &noUser) {
				return nil, NewError(UserNotFound, err, "IAM user %s does not exist", user)
			}
			return nil, Classify(err, "list access keys of "+user)
		}
		keys = append(keys, page.AccessKeyMetadata...)
	}
	sort.SliceStable(keys, func(i, j int) bool {
		return aws.ToTime(keys[i].CreateDate).Before(aws.ToTime(keys[j].CreateDate))
	})
	return keys, nil
}

// deleteKey deletes an access key; one already gone counts as deleted.
func deleteKey(ctx context.Context, client keyDeleter, user, id string) error {
	_, err := client.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(user), AccessKeyId: aws.String(id)})
	var gone *iamtypes.NoSuchEntityException
	if err != nil && !errors.As(err, &gone) {
		return Classify(err, "delete access key "+id+" of "+user)
	}
	return nil
}

func findKey(keys []iamtypes.AccessKeyMetadata, id string) *iamtypes.AccessKeyMetadata {
	for i := range keys {
		if aws.ToString(keys[i].AccessKeyId) == id {
			return &keys[i]
		}
	}
	return nil
}

// strayKeys are keys keyrotor made and lost track of: those a broken stale lock's execution
// created (AbandonedAccessKeyIDs), and those this execution created after recording its intent
// but before recording the key (a crash between CreateAccessKey and writing the lock): not held
// by the parameter, not among the keys the user had when the lock was taken, not otherwise
// known, and created at or after the intent. Without an intent no key is this execution's.
func strayKeys(keys []iamtypes.AccessKeyMetadata, l *lock, held string, known []string) []string {
	var ids []string
	for _, k := range keys {
		id := aws.ToString(k.AccessKeyId)
		if id == held || slices.Contains(known, id) {
			continue
		}
		switch {
		case slices.Contains(l.AbandonedAccessKeyIDs, id):
		case l.CreateIntentAt != nil && l.ExistingAccessKeyIDs != nil && !slices.Contains(l.ExistingAccessKeyIDs, id) &&
			!aws.ToTime(k.CreateDate).Before(l.CreateIntentAt.Truncate(time.Second)):
		default:
			continue
		}
		ids = append(ids, id)
	}
	return ids
}
