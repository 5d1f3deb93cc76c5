package rotation

import (
	"context"
	"errors"
	"sort"

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
				return nil, newError(UserNotFound, err, "IAM user %s does not exist", user)
			}
			return nil, classify(err, "list access keys of "+user)
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
		return classify(err, "delete access key "+id+" of "+user)
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

// strayKeys are keys this execution created but lost track of (a crash between CreateAccessKey
// and recording it in the lock): not held by the parameter, not among the keys the user had
// when the lock was taken, not otherwise known, and created after the lock was taken.
func strayKeys(keys []iamtypes.AccessKeyMetadata, l *lock, held string, known []string) []string {
	if l.ExistingAccessKeyIDs == nil {
		return nil // without the record no key can be told apart safely
	}
	var ids []string
	for _, k := range keys {
		id := aws.ToString(k.AccessKeyId)
		if id == held || contains(known, id) || contains(l.ExistingAccessKeyIDs, id) ||
			aws.ToTime(k.CreateDate).Before(l.AcquiredAt) {
			continue
		}
		ids = append(ids, id)
	}
	return ids
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
