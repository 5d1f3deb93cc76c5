package fleet

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// ManagedUsers lists the users under path tagged keyrotor:managed=true, each with the
// parameter and format its tags name, as the fleet's listing does (managedUser), without
// writing the listing's users object.
func ManagedUsers(ctx context.Context, client IAM, path string) ([]User, error) {
	if !iamPathRE.MatchString(path) {
		return nil, rotation.NewError(rotation.InvalidInput, nil, "path %q is not an IAM path (starting and ending with /)", path)
	}
	var l Lister
	var users []User
	pages := iam.NewListUsersPaginator(client, &iam.ListUsersInput{PathPrefix: aws.String(path)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, rotation.Classify(err, "list IAM users under "+path)
		}
		for _, u := range page.Users {
			fu, err := l.managedUser(ctx, client, aws.ToString(u.UserName))
			if err != nil {
				return nil, err
			}
			if fu != nil {
				users = append(users, *fu)
			}
		}
	}
	return users, nil
}

// FleetAccounts are the member accounts a fleet names: accounts, plus the active accounts
// directly in the OU ou (as the fleet's listing adds them).
func FleetAccounts(ctx context.Context, orgs OUAccountLister, accounts []string, ou string) ([]string, error) {
	l := Lister{Organizations: orgs}
	f, err := l.ouAccounts(ctx, Input{AccountIDs: accounts, OrganizationalUnitID: ou})
	return f.AccountIDs, err
}
