package fleet_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/keyrotor/keyrotor/internal/fleet"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// accountIAM is one account's IAM: one managed user named after the account.
type accountIAM struct {
	account string
	calls   *atomic.Int32 // shared by the accounts, which are read side by side
	users   int           // 0: one user, app-<account>; else app-<account>-<i>
}

func (a accountIAM) ListUsers(_ context.Context, _ *iam.ListUsersInput, _ ...func(*iam.Options)) (*iam.ListUsersOutput, error) {
	a.calls.Add(1)
	if a.users == 0 {
		return &iam.ListUsersOutput{Users: []iamtypes.User{{UserName: aws.String("app-" + a.account)}}}, nil
	}
	out := &iam.ListUsersOutput{}
	for i := range a.users {
		out.Users = append(out.Users, iamtypes.User{UserName: aws.String("app-" + a.account[:3] + "-" + strconv.Itoa(i))})
	}
	return out, nil
}

func (a accountIAM) ListUserTags(_ context.Context, _ *iam.ListUserTagsInput, _ ...func(*iam.Options)) (*iam.ListUserTagsOutput, error) {
	return &iam.ListUserTagsOutput{Tags: []iamtypes.Tag{tag(rotation.ManagedTagKey, "true")}}, nil
}

func (a accountIAM) GetUser(_ context.Context, _ *iam.GetUserInput, _ ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	return &iam.GetUserOutput{}, nil
}

// fakeOU answers ListAccountsForParent with its accounts for its id.
type fakeOU struct {
	id       string
	accounts []orgtypes.Account
	calls    int
}

func (f *fakeOU) ListAccountsForParent(_ context.Context, in *organizations.ListAccountsForParentInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsForParentOutput, error) {
	f.calls++
	if aws.ToString(in.ParentId) != f.id {
		return &organizations.ListAccountsForParentOutput{}, nil
	}
	return &organizations.ListAccountsForParentOutput{Accounts: f.accounts}, nil
}

func account(id string, state orgtypes.AccountState, status orgtypes.AccountStatus) orgtypes.Account {
	return orgtypes.Account{Id: aws.String(id), State: state, Status: status}
}

func TestFleetListsTheManagedUsersOfEachMemberAccountOrOU(t *testing.T) {
	const ou = "ou-ab12-cdef5678"
	members := []string{"111111111111", "222222222222", "333333333333"}
	org := []orgtypes.Account{
		account("333333333333", orgtypes.AccountStateActive, ""),
		account("111111111111", "", orgtypes.AccountStatusActive), // Status only (before State existed)
		account("222222222222", orgtypes.AccountStateSuspended, orgtypes.AccountStatusSuspended),
	}
	for _, tc := range []struct {
		name      string
		in        fleet.Input
		ouHas     []orgtypes.Account
		want      []string // "account/user", in listing order
		wantError string
		usersEach int
	}{
		// IAM's rate is per account: the Map takes items in order, so the users object
		// interleaves the accounts and they run side by side.
		{"several users per account, interleaved", fleet.Input{AccountIDs: []string{"222222222222", "111111111111"}}, nil,
			[]string{"222222222222/app-222-0", "111111111111/app-111-0", "222222222222/app-222-1", "111111111111/app-111-1", "222222222222/app-222-2", "111111111111/app-111-2"}, "", 3},
		{"listed accounts in their order", fleet.Input{AccountIDs: []string{"222222222222", "111111111111"}}, nil,
			[]string{"222222222222/app-222222222222", "111111111111/app-111111111111"}, "", 0},
		{"no accounts: the engine's own", fleet.Input{}, nil, []string{"/app-hub"}, "", 0},
		{"an OU's active accounts", fleet.Input{OrganizationalUnitID: ou}, org,
			[]string{"111111111111/app-111111111111", "333333333333/app-333333333333"}, "", 0},
		{"an OU and a listed account, each once", fleet.Input{OrganizationalUnitID: ou, AccountIDs: []string{"333333333333"}}, org,
			[]string{"333333333333/app-333333333333", "111111111111/app-111111111111"}, "", 0},
		{"an empty OU rotates nobody", fleet.Input{OrganizationalUnitID: ou}, nil, nil, "", 0},
		{"a listed account that is not a member", fleet.Input{AccountIDs: []string{"111111111111", "444444444444"}}, nil, nil, rotation.AccountNotAllowed, 0},
		{"an OU holding an account that is not a member", fleet.Input{OrganizationalUnitID: ou},
			append(slices.Clone(org), account("444444444444", orgtypes.AccountStateActive, "")), nil, rotation.AccountNotAllowed, 0},
		{"not an OU id", fleet.Input{OrganizationalUnitID: "engineering"}, nil, nil, rotation.InvalidInput, 0},
		{"a malformed account id", fleet.Input{AccountIDs: []string{"1111"}}, nil, nil, rotation.InvalidInput, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hubCalls, memberCalls atomic.Int32
			orgs := &fakeOU{id: ou, accounts: tc.ouHas}
			l := &fleet.Lister{
				IAM: accountIAM{account: "hub", calls: &hubCalls}, S3: sfnlocal.NewMemoryObjects(), Bucket: "fleet-bucket", UserPath: "/",
				MemberAccounts: members, Organizations: orgs,
				MemberIAM: func(_ context.Context, account, _ string) (fleet.IAM, error) {
					return accountIAM{account: account, calls: &memberCalls, users: tc.usersEach}, nil
				},
			}
			if tc.wantError != "" {
				_, err := l.List(context.Background(), fleet.ListRequest{Action: "list", ExecutionID: "arn:aws:states:us-east-1:123456789012:execution:f:x", Fleet: fleetJSON(t, tc.in)})
				if rotation.ErrorName(err) != tc.wantError {
					t.Fatalf("error %v (%s), want %s", err, rotation.ErrorName(err), tc.wantError)
				}
				if tc.wantError == rotation.AccountNotAllowed && !strings.Contains(err.Error(), "444444444444") {
					t.Errorf("AccountNotAllowed does not name the account: %v", err)
				}
				if n := hubCalls.Load() + memberCalls.Load(); n > 0 {
					t.Errorf("%d IAM calls before the refusal", n)
				}
				return
			}
			st, users, _ := listAll(t, l, tc.in)
			var got []string
			for _, u := range users {
				got = append(got, u.AccountID+"/"+u.UserName)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("listed %v, want %v", got, tc.want)
			}
			if tc.in.OrganizationalUnitID != "" && orgs.calls != 1 {
				t.Errorf("the OU was read %d times, want once", orgs.calls)
			}
			if len(tc.want) == 0 && hubCalls.Load() > 0 {
				t.Errorf("an empty OU listed the engine's own account")
			}
			if st.Page.Managed != len(tc.want) {
				t.Errorf("page says %d managed, want %d", st.Page.Managed, len(tc.want))
			}
		})
	}
}

// The engine module's schedule passes jsonencode(var.fleet_input): every field it leaves out
// arrives as null. The listing takes that input as the same input without the fields.
func TestScheduledFleetInputWithNullsIsTheInputWithoutThem(t *testing.T) {
	const scheduled = `{"maxConcurrency":null,"toleratedFailurePercentage":null,"graceSeconds":null,"inactiveSeconds":null,"pathPrefix":null,"accountIds":["111111111111"],"organizationalUnitId":null}`
	var calls atomic.Int32
	l := &fleet.Lister{IAM: accountIAM{account: "hub", calls: &calls}, S3: sfnlocal.NewMemoryObjects(), Bucket: "fleet-bucket", UserPath: "/",
		MemberAccounts: []string{"111111111111"},
		MemberIAM: func(_ context.Context, account, _ string) (fleet.IAM, error) {
			return accountIAM{account: account, calls: &calls}, nil
		}}
	st, err := l.List(context.Background(), fleet.ListRequest{Action: "list", ExecutionID: "arn:aws:states:us-east-1:123456789012:execution:f:x", Fleet: []byte(scheduled)})
	if err != nil {
		t.Fatal(err)
	}
	if c := st.Config; *c.MaxConcurrency != fleet.DefaultFleetConcurrency || c.Rotation.GraceSeconds != rotation.DefaultGraceSeconds ||
		c.Rotation.InactiveSeconds != rotation.DefaultInactiveSeconds || c.PathPrefix != "/" || !slices.Equal(c.AccountIDs, []string{"111111111111"}) {
		t.Errorf("config %+v (rotation %+v), want the defaults over account 111111111111", c, c.Rotation)
	}
}
