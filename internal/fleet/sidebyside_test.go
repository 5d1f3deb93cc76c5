package fleet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/keyrotor/keyrotor/internal/fleet"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/sfnlocal"
)

// org is a set of member accounts' IAMs whose ListUsers pages as IAM does (MaxItems, Marker,
// IsTruncated), every user managed.
type org struct {
	users map[string]int // account → how many users (u<account[:3]>-<i>)
	// together first-page reads wait for each other (up to a deadline) before any is answered:
	// accounts read one after another never all arrive.
	together int
	mu       sync.Mutex
	arrived  int
	all      chan struct{}
	// faults answers an account's next ListUsers calls with these errors, in order.
	faults map[string][]error
	// reads counts the ListUsers calls per account.
	reads map[string]int
}

func newOrg(together int, users map[string]int) *org {
	return &org{users: users, together: together, all: make(chan struct{}), faults: map[string][]error{}, reads: map[string]int{}}
}

func (o *org) lister(members []string, size int32) *fleet.Lister {
	return &fleet.Lister{S3: sfnlocal.NewMemoryObjects(), Bucket: "fleet-bucket", UserPath: "/", PageSize: size, MemberAccounts: members,
		IAM: orgIAM{o, ""},
		MemberIAM: func(_ context.Context, account, _ string) (fleet.IAM, error) {
			return orgIAM{o, account}, nil
		}}
}

// orgIAM is one account's IAM of an org ("": the engine's own).
type orgIAM struct {
	o       *org
	account string
}

func (a orgIAM) ListUsers(ctx context.Context, in *iam.ListUsersInput, _ ...func(*iam.Options)) (*iam.ListUsersOutput, error) {
	o := a.o
	o.mu.Lock()
	o.reads[a.account]++
	if f := o.faults[a.account]; len(f) > 0 {
		o.faults[a.account] = f[1:]
		o.mu.Unlock()
		return nil, f[0]
	}
	wait := in.Marker == nil && o.arrived < o.together
	if wait {
		if o.arrived++; o.arrived == o.together {
			close(o.all)
		}
	}
	o.mu.Unlock()
	if wait {
		select {
		case <-o.all:
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("account %q's first page was read alone: %d of %d accounts were being read at once", a.account, o.arrived, o.together)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	from := 0
	if in.Marker != nil {
		from, _ = strconv.Atoi(aws.ToString(in.Marker))
	}
	n := o.users[a.account]
	to := min(n, from+int(aws.ToInt32(in.MaxItems)))
	out := &iam.ListUsersOutput{IsTruncated: to < n}
	for i := from; i < to; i++ {
		out.Users = append(out.Users, iamtypes.User{UserName: aws.String(userOf(a.account, i))})
	}
	if out.IsTruncated {
		out.Marker = aws.String(strconv.Itoa(to))
	}
	return out, nil
}

func (orgIAM) ListUserTags(context.Context, *iam.ListUserTagsInput, ...func(*iam.Options)) (*iam.ListUserTagsOutput, error) {
	return &iam.ListUserTagsOutput{Tags: []iamtypes.Tag{tag(rotation.ManagedTagKey, "true")}}, nil
}

func userOf(account string, i int) string {
	if account == "" {
		return "u-" + strconv.Itoa(i)
	}
	return "u" + account[:3] + "-" + strconv.Itoa(i)
}

// accountIDs are n member account ids, 100000000001 on.
func accountIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = strconv.Itoa(100000000001 + i)
	}
	return ids
}

// IAM's rate is per account: each list call reads a page of up to fleet.AccountsAtOnce accounts
// at once, so the listing takes as many calls as the largest account has pages, not their sum.
func TestListReadsTheAccountsSideBySide(t *testing.T) {
	many := accountIDs(fleet.AccountsAtOnce + 5)
	for _, tc := range []struct {
		name      string
		accounts  []string // nil: the engine's own account
		users     []int    // per account
		together  int
		wantCalls int
	}{
		{"three accounts of 5, 1 and 3 users in pages of 2", accountIDs(3), []int{5, 1, 3}, 3, 3},
		{"one account", accountIDs(1), []int{5}, 1, 3},
		{"the engine's own account", nil, []int{3}, 1, 2},
		{"more accounts than a call reads: the rest follow as the first end", many, slices.Repeat([]int{1}, len(many)), fleet.AccountsAtOnce, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			users := map[string]int{}
			owners := tc.accounts
			if owners == nil {
				owners = []string{""}
			}
			total := 0
			for i, a := range owners {
				users[a] = tc.users[i]
				total += tc.users[i]
			}
			o := newOrg(tc.together, users)
			st, listed, calls := listAll(t, o.lister(tc.accounts, 2), fleet.Input{AccountIDs: tc.accounts})
			if calls != tc.wantCalls {
				t.Errorf("the listing took %d calls, want %d", calls, tc.wantCalls)
			}
			if st.Page.Listed != total || st.Page.Managed != total || len(listed) != total || len(st.Page.Accounts) != 0 {
				t.Errorf("listed %d (page: listed %d, managed %d, left %+v), want all %d", len(listed), st.Page.Listed, st.Page.Managed, st.Page.Accounts, total)
			}
			// Each account's users in its listed order, the accounts interleaved in their order.
			next := map[string]int{}
			for i, u := range listed {
				if want := userOf(u.AccountID, next[u.AccountID]); u.UserName != want {
					t.Fatalf("item %d is %s/%s, want %s (the accounts' users in their order)", i, u.AccountID, u.UserName, want)
				}
				next[u.AccountID]++
			}
			if len(owners) > 1 && listed[0].AccountID != owners[0] || len(owners) > 1 && listed[1].AccountID != owners[1] {
				t.Errorf("items start %+v, want the accounts interleaved in their order", listed[:2])
			}
		})
	}
}

// One account's page failing for a reason that passes (throttled, IAM unavailable) costs the
// others nothing: their pages are kept and its page is read again by the next call. Failing in
// every account it reads, the call fails for the step's Retry; any other failure fails it at once.
func TestListKeepsTheOtherAccountsPagesWhenOneIsBusy(t *testing.T) {
	throttled := &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	denied := &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform iam:ListUsers"}
	accounts := accountIDs(3)
	for _, tc := range []struct {
		name      string
		faults    map[string][]error
		wantError string // of the first call; "" it succeeds
		wantLeft  []fleet.Cursor
	}{
		{"one account throttled: the others are kept, it is read again", map[string][]error{accounts[1]: {throttled}}, "",
			[]fleet.Cursor{{Account: accounts[1]}}},
		{"every account throttled: the call fails Throttled", map[string][]error{accounts[0]: {throttled}, accounts[1]: {throttled}, accounts[2]: {throttled}},
			rotation.Throttled, nil},
		{"one account denied: the call fails AccessDenied", map[string][]error{accounts[2]: {denied}}, rotation.AccessDenied, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOrg(0, map[string]int{accounts[0]: 2, accounts[1]: 2, accounts[2]: 2})
			o.faults = tc.faults
			l := o.lister(accounts, 2)
			req := fleet.ListRequest{Action: "list", ExecutionID: "arn:aws:states:us-east-1:123456789012:execution:f:busy", Fleet: fleetJSON(t, fleet.Input{AccountIDs: accounts})}
			st, err := l.List(context.Background(), req)
			if rotation.ErrorName(err) != tc.wantError && (err != nil || tc.wantError != "") {
				t.Fatalf("first call: %v (%s), want %q", err, rotation.ErrorName(err), tc.wantError)
			}
			if tc.wantError != "" {
				return
			}
			if !slices.Equal(st.Page.Accounts, tc.wantLeft) || !st.Page.More || st.Page.Managed != 4 {
				t.Fatalf("after the first call: left %+v, more %v, managed %d; want left %+v, more, 4 managed", st.Page.Accounts, st.Page.More, st.Page.Managed, tc.wantLeft)
			}
			req.Fleet, req.Page = fleetJSON(t, st.Config), &st.Page
			if st, err = l.List(context.Background(), req); err != nil || st.Page.More {
				t.Fatalf("second call: %v, more %v", err, st.Page.More)
			}
			body, _ := l.S3.GetObject(context.Background(), st.Page.Bucket, st.Page.Key)
			var users []fleet.User
			if err := json.Unmarshal(body, &users); err != nil || len(users) != 6 {
				t.Errorf("users object %s (%v), want the 6 users once each", body, err)
			}
			if o.reads[accounts[0]] != 1 || o.reads[accounts[1]] != 2 {
				t.Errorf("ListUsers calls %v: want the kept account read once, the throttled one twice", o.reads)
			}
		})
	}
}

// The page travels in the fleet's state, which only its states write; one that names no
// account to list, the engine's own beside accountIds, or an account the configuration does not
// list is refused before any IAM call.
func TestListRefusesAPageThatIsNotItsOwn(t *testing.T) {
	accounts := accountIDs(2)
	for _, tc := range []struct {
		name      string
		left      []fleet.Cursor
		wantError string
	}{
		{"no account left to list", nil, rotation.InvalidInput},
		{"the engine's own account beside accountIds", []fleet.Cursor{{Account: accounts[0]}, {}}, rotation.InvalidInput},
		{"an account the fleet does not list", []fleet.Cursor{{Account: accounts[1]}, {Account: "999999999999"}}, rotation.AccountNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOrg(0, map[string]int{accounts[0]: 1, accounts[1]: 1})
			l := o.lister(append(slices.Clone(accounts), "999999999999"), 2)
			config := fleetJSON(t, fleet.Input{AccountIDs: accounts, PathPrefix: "/"})
			page := fleet.Page{Bucket: "fleet-bucket", Key: "fleet/x/users.json", ReportPrefix: "fleet/x/report", Accounts: tc.left, More: true}
			_, err := l.List(context.Background(), fleet.ListRequest{Action: "list", ExecutionID: "arn:aws:states:us-east-1:123456789012:execution:f:x", Fleet: config, Page: &page})
			if rotation.ErrorName(err) != tc.wantError {
				t.Fatalf("%v (%s), want %s", err, rotation.ErrorName(err), tc.wantError)
			}
			if len(o.reads) > 0 {
				t.Errorf("IAM read before the refusal: %v", o.reads)
			}
		})
	}
}
