package fleet

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/keyrotor/keyrotor/internal/rotation"
)

// The fleet's input (statemachine/rotate-fleet.asl.json) configures it; every field is
// optional. The list action defaults and validates it on the first call, and each call adds one
// page of managed users to the fleet's users object in S3, which the fleet's Distributed Map
// reads (ItemReader); the fleet's own progress travels beside the configuration as Page.
type Input struct {
	// MaxConcurrency is how many rotations run at once (default 10, 1 … 1000).
	MaxConcurrency *int `json:"maxConcurrency,omitempty"`
	// ToleratedFailurePercentage is the share of failed rotations above which the fleet stops
	// and fails (default 100: every user is attempted; 0 … 100).
	ToleratedFailurePercentage *int `json:"toleratedFailurePercentage,omitempty"`
	// PathPrefix narrows the fleet to the users under an IAM path within the engine's
	// (default: the engine's managed user path).
	PathPrefix string `json:"pathPrefix,omitempty"`
	// Rotation is the part of every child execution's input that the fleet sets.
	Rotation *Shared `json:"rotation,omitempty"`
	// GraceSeconds and InactiveSeconds are input shorthands, moved into Rotation.
	GraceSeconds    *int `json:"graceSeconds,omitempty"`
	InactiveSeconds *int `json:"inactiveSeconds,omitempty"`
	// AccountIDs are member accounts whose managed users the fleet rotates, each through its
	// keyrotor-target role; empty: the engine's own account.
	AccountIDs []string `json:"accountIds,omitempty"`
	// OrganizationalUnitID adds the ACTIVE accounts directly in an AWS Organizations OU (or
	// root) to AccountIDs, read once by the first list call; each must be a member account.
	OrganizationalUnitID string `json:"organizationalUnitId,omitempty"`
}

// fleetInputFields are the fields a fleet's input may set; fleetOwnedFields are the ones its
// own states set, which an input must not carry (issue 17: a `users` list in the input
// used to replace the listing).
var (
	fleetInputFields = []string{"maxConcurrency", "toleratedFailurePercentage", "pathPrefix", "rotation", "graceSeconds", "inactiveSeconds", "accountIds", "organizationalUnitId"}
	fleetOwnedFields = []string{"users", "marker", "more", "listed", "managed", "page", "config", "results", "report", "error", "failure", "reason", "summary"}
)

// Page is the listing's progress, which the fleet's states own.
type Page struct {
	// Bucket and Key locate the users object (a JSON array of User) the Map reads;
	// ReportPrefix is where its ResultWriter writes the report.
	Bucket       string `json:"bucket"`
	Key          string `json:"key"`
	ReportPrefix string `json:"reportPrefix"`
	// Accounts are the accounts whose listing has not reached its end, in the configuration's
	// order, each with the IAM marker it continues at; More says whether another call follows.
	Accounts []Cursor `json:"accounts,omitempty"`
	More     bool     `json:"more"`
	// Listed counts the IAM users seen (managed or not), Managed those written to Key.
	Listed  int `json:"listed"`
	Managed int `json:"managed"`
	// Digest is the SHA-256 of the users object as the listing last wrote it: the next page
	// and the summary find out whether anything else wrote it since (items.go).
	Digest string `json:"digest,omitempty"`
}

// Cursor is where the listing of one account stands.
type Cursor struct {
	// Account is a member account of the configuration's accountIds ("": the engine's own).
	Account string `json:"account,omitempty"`
	// Marker continues the account's IAM listing ("": its first page is still to be read).
	Marker string `json:"marker,omitempty"`
}

// State is what the list action returns: the validated configuration and the listing's
// progress.
type State struct {
	Config Input `json:"config"`
	Page   Page  `json:"page"`
}

// Shared is the input every rotation of a fleet shares. The Map merges it over each
// item (States.JsonMerge, its fields winning), so Fleet reaches every child whatever the item
// says.
type Shared struct {
	GraceSeconds    int `json:"graceSeconds"`
	InactiveSeconds int `json:"inactiveSeconds"`
	// Fleet is what the listing covered, set by the list action alone (an input's is
	// replaced): each child's Begin rechecks its item against it (internal/rotation fleet_items.go).
	Fleet *rotation.FleetScope `json:"fleet,omitempty"`
}

// User is the per-user part of a rotation input. ParameterName and Format are set only
// from the user's tags; left out, the rotation's Begin defaults them.
type User struct {
	UserName      string `json:"userName"`
	ParameterName string `json:"parameterName,omitempty"`
	Format        string `json:"format,omitempty"`
	// AccountID is the user's member account ("": the engine's own).
	AccountID string `json:"accountId,omitempty"`
}

// ListRequest is the event of the fleet's listing and summary Tasks. The first list call
// carries the execution input as Fleet and no Page; later ones the validated Config as Fleet
// and the Page so far. The summarize action carries the Page and the Map's ResultWriter output.
type ListRequest struct {
	Action      string          `json:"action"`
	ExecutionID string          `json:"executionId"`
	Fleet       json.RawMessage `json:"fleet,omitempty"`
	Page        *Page           `json:"page,omitempty"`
	Report      *ReportRef      `json:"report,omitempty"`
	// Rotation and Checks are the cutover action's: the rotation execution a fleet child
	// started, and how often it has been checked.
	Rotation string `json:"rotation,omitempty"`
	Checks   int    `json:"checks,omitempty"`
}

// ReportRef is a Distributed Map's output with ResultWriter: its Map Run and manifest
// (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html).
type ReportRef struct {
	MapRunArn           string `json:"MapRunArn"`
	ResultWriterDetails struct {
		Bucket string `json:"Bucket"`
		Key    string `json:"Key"`
	} `json:"ResultWriterDetails"`
}

// Store is the part of S3 the fleet's users object and report need.
type Store interface {
	GetObject(ctx context.Context, bucket, key string) ([]byte, error)
	PutObject(ctx context.Context, bucket, key string, body []byte) error
}

// EnvBucket names the engine's fleet bucket (the engine module's aws_s3_bucket.fleet).
const EnvBucket = "KEYROTOR_FLEET_BUCKET"

// Fleet defaults and bounds.
const (
	DefaultFleetConcurrency = 10
	MaxFleetConcurrency     = 1000
	// DefaultToleratedFailurePercentage attempts every user: one user's failure (a key in use
	// elsewhere, a missing tag) says nothing about the others.
	DefaultToleratedFailurePercentage = 100
	listPageSize                      = 100
	// tagReaders bounds the concurrent ListUserTags calls of one account's page.
	tagReaders = 8
	// accountsAtOnce is how many accounts one list call reads a page of, side by side. IAM's
	// rate is per account, so a page of each takes about as long as a page of one; the bound
	// keeps a call's requests (accountsAtOnce × tagReaders at once) and its memory those of a
	// small function. Up to accountsAtOnce accounts, a fleet's listing takes as many calls as
	// its largest account has pages: at most 50 at IAM's 5,000 users per account, which the
	// fleet definition's history budget counts (internal/harness/aslrules).
	accountsAtOnce = 20
)

// EnvUserPath is the IAM path under which the fleet lists users (the engine module's
// managed_user_path; default "/").
const EnvUserPath = "KEYROTOR_USER_PATH"

var iamPathRE = regexp.MustCompile(`^/([\w+=,.@-]+/)*$`)

type userLister interface {
	iam.ListUsersAPIClient
}

// IAM is what listing managed users needs of the IAM client.
type IAM interface {
	userLister
	iam.ListUserTagsAPIClient
}

// Lister lists the users tagged keyrotor:managed=true for the fleet state machine into S3, and
// summarizes the fleet's report.
type Lister struct {
	IAM      IAM
	S3       Store
	Bucket   string // the fleet bucket
	UserPath string
	Logger   *slog.Logger
	// PageSize is how many IAM users one call reads (0: 100, small enough that the page's
	// ListUserTags calls fit well within the function's timeout).
	PageSize int32
	// MemberAccounts may be listed (accountIds); MemberIAM gives the IAM client acting in
	// one of them for an execution (its keyrotor-target role).
	MemberAccounts []string
	MemberIAM      func(ctx context.Context, account, executionID string) (IAM, error)
	// Organizations lists an OU's accounts (organizationalUnitId), with the hub's credentials.
	Organizations OUAccountLister
	// Executions follows the rotations a fleet started, up to their cut-over (cutover action).
	Executions RotationWatcher
}

// OUAccountLister is what the fleet uses of the Organizations client.
type OUAccountLister interface {
	organizations.ListAccountsForParentAPIClient
}

// ouIDPattern is ListAccountsForParent's ParentId: a root (r-…) or an OU (ou-…-…)
// (https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccountsForParent.html).
var ouIDPattern = regexp.MustCompile(`^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$`)

// ValidParentID says whether id is an OU or root id ListAccountsForParent accepts.
func ValidParentID(id string) bool { return ouIDPattern.MatchString(id) }

// ouAccounts adds the ACTIVE accounts directly in f's OU to its AccountIDs (sorted, once each).
func (l *Lister) ouAccounts(ctx context.Context, f Input) (Input, error) {
	if f.OrganizationalUnitID == "" {
		return f, nil
	}
	if !ouIDPattern.MatchString(f.OrganizationalUnitID) {
		return f, rotation.NewError(rotation.InvalidInput, nil, "invalid fleet input: organizationalUnitId %q is not an AWS Organizations OU id (ou-…-…) or root id (r-…)", f.OrganizationalUnitID)
	}
	if l.Organizations == nil {
		return f, rotation.NewError(rotation.InvalidInput, nil, "invalid fleet input: this listing cannot read AWS Organizations; pass accountIds instead of organizationalUnitId")
	}
	var found []string
	pages := organizations.NewListAccountsForParentPaginator(l.Organizations, &organizations.ListAccountsForParentInput{ParentId: aws.String(f.OrganizationalUnitID)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return f, rotation.Classify(err, "list the accounts of "+f.OrganizationalUnitID)
		}
		for _, a := range page.Accounts {
			active := a.State == orgtypes.AccountStateActive || (a.State == "" && a.Status == orgtypes.AccountStatusActive)
			if id := aws.ToString(a.Id); active && !slices.Contains(f.AccountIDs, id) && !slices.Contains(found, id) {
				found = append(found, id)
			}
		}
	}
	slices.Sort(found)
	f.AccountIDs = append(f.AccountIDs, found...)
	return f, nil
}

// List defaults and validates the fleet's configuration on the first call (and writes an empty
// users object), then reads one page of IAM users under the path and appends those tagged
// keyrotor:managed=true to the users object.
func (l *Lister) List(ctx context.Context, req ListRequest) (State, error) {
	path := l.UserPath
	if path == "" {
		path = "/"
	}
	var st State
	if req.Page == nil {
		f, err := decodeFleetInput(req.Fleet)
		if err != nil {
			return st, err
		}
		if st.Config, err = fleetDefaults(f, path); err != nil {
			return st, err
		}
		if st.Config, err = l.ouAccounts(ctx, st.Config); err != nil {
			return st, err
		}
		var notMembers []string
		for _, a := range st.Config.AccountIDs {
			if !slices.Contains(l.MemberAccounts, a) {
				notMembers = append(notMembers, a)
			}
		}
		if len(notMembers) > 0 {
			return st, rotation.AccountNotAllowedError(l.MemberAccounts, strings.Join(notMembers, ", "))
		}
		if l.Bucket == "" || l.S3 == nil {
			return st, rotation.NewError(rotation.InvalidInput, nil, "the fleet has no bucket to list its users into: set %s on the listusers function (the engine module does)", EnvBucket)
		}
		dir := "fleet/" + executionName(req.ExecutionID)
		st.Page = Page{Bucket: l.Bucket, Key: dir + "/users.json", ReportPrefix: dir + "/report", Accounts: []Cursor{{}}}
		if len(st.Config.AccountIDs) > 0 {
			st.Page.Accounts = make([]Cursor, len(st.Config.AccountIDs))
			for i, a := range st.Config.AccountIDs {
				st.Page.Accounts[i].Account = a
			}
		}
		st.Config.Rotation.Fleet = scopeOf(req.ExecutionID, st.Config)
	} else {
		if err := json.Unmarshal(req.Fleet, &st.Config); err != nil {
			return st, rotation.NewError(rotation.InvalidInput, nil, "the fleet's configuration is not the list action's own: %s", err)
		}
		st.Page = *req.Page
	}
	users := []User{}
	if st.Config.OrganizationalUnitID != "" && len(st.Config.AccountIDs) == 0 {
		// An OU without active accounts: nobody to rotate (not the engine's own account).
		body, _ := json.Marshal(users)
		if err := l.S3.PutObject(ctx, st.Page.Bucket, st.Page.Key, body); err != nil {
			return st, rotation.Classify(err, "write the fleet's users to s3://"+st.Page.Bucket+"/"+st.Page.Key)
		}
		st.Page.Accounts, st.Page.More, st.Page.Digest = nil, false, itemsDigest(body)
		return st, nil
	}
	if len(st.Page.Accounts) == 0 {
		return st, rotation.NewError(rotation.InvalidInput, nil, "the fleet's page has no account left to list (its listing had ended); the list action is not called again after more is false")
	}
	window := st.Page.Accounts[:min(len(st.Page.Accounts), accountsAtOnce)]
	clients := make([]IAM, len(window))
	for i, c := range window {
		// Every account of the window is checked before any is read.
		if c.Account == "" {
			if len(st.Config.AccountIDs) > 0 {
				return st, rotation.NewError(rotation.InvalidInput, nil, "the fleet's page lists the engine's own account, but the fleet rotates accountIds %s", strings.Join(st.Config.AccountIDs, ", "))
			}
			clients[i] = l.IAM
			continue
		}
		if !slices.Contains(st.Config.AccountIDs, c.Account) || !slices.Contains(l.MemberAccounts, c.Account) || l.MemberIAM == nil {
			return st, rotation.AccountNotAllowedError(l.MemberAccounts, c.Account)
		}
	}
	if st.Page.Managed > 0 {
		body, err := l.S3.GetObject(ctx, st.Page.Bucket, st.Page.Key)
		if err != nil {
			return st, rotation.Classify(err, "read the users listed so far from s3://"+st.Page.Bucket+"/"+st.Page.Key)
		}
		if err := st.Page.unchanged(body); err != nil {
			return st, err
		}
		if err := json.Unmarshal(body, &users); err != nil {
			return st, rotation.NewError(rotation.UnexpectedError, err, "s3://%s/%s is not the fleet's users object", st.Page.Bucket, st.Page.Key)
		}
	}
	size := l.PageSize
	if size <= 0 {
		size = listPageSize
	}
	// One page of each account of the window, side by side: each account's IAM has a rate of
	// its own, so reading them one after another made the listing the sum of theirs.
	pages := make([]accountPage, len(window))
	var wg sync.WaitGroup
	for i, c := range window {
		wg.Go(func() {
			pages[i] = l.accountPage(ctx, req.ExecutionID, st.Config.PathPrefix, c, clients[i], size)
		})
	}
	wg.Wait()
	var next []Cursor
	var deferred []string
	progressed := false
	var retryable error
	for i, p := range pages {
		if p.err != nil {
			if n := rotation.ErrorName(p.err); n != rotation.Throttled && n != rotation.ServiceUnavailable {
				return st, p.err
			}
			// A busy or failing IAM in one account: the others' pages are kept, and this
			// account's page is read again by the next call (the step's Retry, when no
			// account got on).
			retryable = cmp.Or(retryable, p.err)
			deferred = append(deferred, window[i].Account)
			next = append(next, window[i])
			continue
		}
		progressed = true
		users = append(users, p.users...)
		st.Page.Listed += p.listed
		if p.more {
			next = append(next, p.next)
		}
	}
	if !progressed {
		return st, retryable
	}
	st.Page.Accounts = append(next, st.Page.Accounts[len(window):]...)
	st.Page.More = len(st.Page.Accounts) > 0
	if !st.Page.More && len(st.Config.AccountIDs) > 1 {
		// IAM's rate is per account: the Map takes items in order, so accounts interleaved
		// run side by side instead of one after the other.
		users = interleaveAccounts(users)
	}
	body, err := json.Marshal(users)
	if err != nil {
		return st, rotation.NewError(rotation.UnexpectedError, err, "encode the fleet's users")
	}
	if err := l.S3.PutObject(ctx, st.Page.Bucket, st.Page.Key, body); err != nil {
		return st, rotation.Classify(err, "write the fleet's users to s3://"+st.Page.Bucket+"/"+st.Page.Key)
	}
	st.Page.Digest = itemsDigest(body)
	st.Page.Managed = len(users)
	if len(deferred) > 0 {
		l.logger().Warn("an account's page is read again by the next call", "execution", req.ExecutionID, "accounts", deferred, "error", retryable)
	}
	l.logger().Info("listed managed users", "execution", req.ExecutionID, "accounts", len(window), "pending", len(st.Page.Accounts),
		"managed", st.Page.Managed, "listed", st.Page.Listed, "more", st.Page.More)
	return st, nil
}

// accountPage is one page of one account's listing.
type accountPage struct {
	users  []User // the page's managed users
	listed int    // the page's users, managed or not
	next   Cursor // where the account's listing continues, when more
	more   bool
	err    error
}

// accountPage reads the page of users at cursor c (up to size) and each one's tags, with the
// IAM client acting in c's account (nil: through its keyrotor-target role for execution).
func (l *Lister) accountPage(ctx context.Context, execution, path string, c Cursor, client IAM, size int32) accountPage {
	if client == nil {
		member, err := l.MemberIAM(ctx, c.Account, execution)
		if err != nil {
			return accountPage{err: err}
		}
		client = member
	}
	in := &iam.ListUsersInput{PathPrefix: aws.String(path), MaxItems: aws.Int32(size)}
	if c.Marker != "" {
		in.Marker = aws.String(c.Marker)
	}
	page, err := client.ListUsers(ctx, in)
	if err != nil {
		return accountPage{err: rotation.Classify(err, "list IAM users under "+path+rotation.InAccount(c.Account))}
	}
	found := make([]*User, len(page.Users))
	errs := make([]error, len(page.Users))
	sem := make(chan struct{}, tagReaders)
	var wg sync.WaitGroup
	for i, u := range page.Users {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			found[i], errs[i] = l.managedUser(ctx, client, aws.ToString(u.UserName))
			if found[i] != nil {
				found[i].AccountID = c.Account
			}
		})
	}
	wg.Wait()
	out := accountPage{listed: len(page.Users), more: page.IsTruncated, next: Cursor{Account: c.Account, Marker: aws.ToString(page.Marker)}}
	for i := range found {
		if errs[i] != nil {
			return accountPage{err: errs[i]}
		}
		if found[i] != nil {
			out.users = append(out.users, *found[i])
		}
	}
	return out
}

// interleaveAccounts orders users round-robin by account (first-listed account first), each
// account's users in their listed order.
func interleaveAccounts(users []User) []User {
	var order []string
	by := map[string][]User{}
	for _, u := range users {
		if _, ok := by[u.AccountID]; !ok {
			order = append(order, u.AccountID)
		}
		by[u.AccountID] = append(by[u.AccountID], u)
	}
	out := make([]User, 0, len(users))
	for i := 0; len(out) < len(users); i++ {
		for _, a := range order {
			if i < len(by[a]) {
				out = append(out, by[a][i])
			}
		}
	}
	return out
}

// decodeFleetInput reads the fleet's execution input, refusing the fields its own states set
// and any it does not know, each by name.
func decodeFleetInput(raw json.RawMessage) (Input, error) {
	var f Input
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return f, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return f, rotation.NewError(rotation.InvalidInput, nil, "invalid fleet input: it must be a JSON object with any of %s", strings.Join(fleetInputFields, ", "))
	}
	var owned, unknown []string
	for k := range fields {
		switch {
		case slices.Contains(fleetOwnedFields, k):
			owned = append(owned, k)
		case !slices.Contains(fleetInputFields, k):
			unknown = append(unknown, k)
		}
	}
	slices.Sort(owned)
	slices.Sort(unknown)
	switch {
	case len(owned) > 0:
		return f, rotation.NewError(rotation.InvalidInput, nil, "invalid fleet input: %s set by the fleet itself (it lists the managed users into S3 and runs one rotation per user); remove %s. The input may set %s",
			quoteJoin(owned), map[bool]string{true: "it", false: "them"}[len(owned) == 1], strings.Join(fleetInputFields, ", "))
	case len(unknown) > 0:
		return f, rotation.NewError(rotation.InvalidInput, nil, "invalid fleet input: %s not a fleet setting; the input may set %s", quoteJoin(unknown), strings.Join(fleetInputFields, ", "))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&f); err != nil {
		return f, rotation.NewError(rotation.InvalidInput, nil, "invalid fleet input: %s", err)
	}
	return f, nil
}

// quoteJoin names fields for a message: `field "a" is` or `fields "a", "b" are`.
func quoteJoin(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	if len(names) == 1 {
		return "field " + q[0] + " is"
	}
	return "fields " + strings.Join(q, ", ") + " are"
}

// executionName is the last part of an execution ARN (the whole string if it has none).
func executionName(id string) string {
	if i := strings.LastIndexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if id == "" {
		id = "fleet"
	}
	return id
}

// managedUser reads the user's tags: nil if the user has not opted in (or was deleted since the
// listing), else the per-user part of its rotation input.
func (l *Lister) managedUser(ctx context.Context, client IAM, name string) (*User, error) {
	u := &User{UserName: name}
	managed := false
	pages := iam.NewListUserTagsPaginator(client, &iam.ListUserTagsInput{UserName: aws.String(name)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if _, gone := errors.AsType[*iamtypes.NoSuchEntityException](err); gone {
			return nil, nil
		}
		if err != nil {
			return nil, rotation.Classify(err, "read tags of user "+name)
		}
		for _, t := range page.Tags {
			switch aws.ToString(t.Key) {
			case rotation.ManagedTagKey:
				managed = aws.ToString(t.Value) == rotation.ManagedTagValue
			case rotation.ParameterTagKey:
				u.ParameterName = aws.ToString(t.Value)
			case rotation.FormatTagKey:
				u.Format = aws.ToString(t.Value)
			}
		}
	}
	if !managed {
		return nil, nil
	}
	return u, nil
}

// fleetDefaults fills in and checks the fleet's configuration; the rotation's own fields are
// checked again by each rotation's Begin.
func fleetDefaults(f Input, userPath string) (Input, error) {
	var problems []string
	if f.PathPrefix == "" {
		f.PathPrefix = userPath
	}
	if !strings.HasPrefix(f.PathPrefix, userPath) || !iamPathRE.MatchString(f.PathPrefix) {
		problems = append(problems, fmt.Sprintf("pathPrefix %q must be an IAM path (starting and ending with /) under the engine's managed user path %s", f.PathPrefix, userPath))
	}
	f.MaxConcurrency = cmp.Or(f.MaxConcurrency, ptr(DefaultFleetConcurrency))
	if n := *f.MaxConcurrency; n < 1 || n > MaxFleetConcurrency {
		problems = append(problems, fmt.Sprintf("maxConcurrency %d must be between 1 and %d", n, MaxFleetConcurrency))
	}
	f.ToleratedFailurePercentage = cmp.Or(f.ToleratedFailurePercentage, ptr(DefaultToleratedFailurePercentage))
	if p := *f.ToleratedFailurePercentage; p < 0 || p > 100 {
		problems = append(problems, fmt.Sprintf("toleratedFailurePercentage %d must be between 0 and 100", p))
	}
	if f.Rotation == nil {
		f.Rotation = &Shared{GraceSeconds: rotation.DefaultGraceSeconds, InactiveSeconds: rotation.DefaultInactiveSeconds}
	}
	if f.GraceSeconds != nil {
		f.Rotation.GraceSeconds, f.GraceSeconds = *f.GraceSeconds, nil
	}
	if f.InactiveSeconds != nil {
		f.Rotation.InactiveSeconds, f.InactiveSeconds = *f.InactiveSeconds, nil
	}
	if g := f.Rotation.GraceSeconds; g < 0 || g > rotation.MaxGraceSeconds {
		problems = append(problems, fmt.Sprintf("graceSeconds %d must be between 0 and %d", g, rotation.MaxGraceSeconds))
	}
	if s := f.Rotation.InactiveSeconds; s < 0 || s > rotation.MaxInactiveSeconds {
		problems = append(problems, fmt.Sprintf("inactiveSeconds %d must be between 0 and %d", s, rotation.MaxInactiveSeconds))
	}
	seen := map[string]bool{}
	for _, a := range f.AccountIDs {
		if !rotation.ValidAccountID(a) {
			problems = append(problems, fmt.Sprintf("accountIds lists %q, which is not a 12-digit AWS account id", a))
		} else if seen[a] {
			problems = append(problems, fmt.Sprintf("accountIds lists %s twice", a))
		}
		seen[a] = true
	}
	if len(problems) > 0 {
		return f, rotation.NewError(rotation.InvalidInput, nil, "invalid fleet input: %s", strings.Join(problems, "; "))
	}
	return f, nil
}

func (l *Lister) logger() *slog.Logger {
	if l.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Logger
}

// Summary is the fleet's output: counts, the failed (and skipped) users with their error
// and a one-line cause, and where the full report is. At most maxListed users are listed per
// kind so that it stays far under Step Functions' 256 KiB at IAM's 5,000 users per account.
type Summary struct {
	Listed          int       `json:"listed"`
	Managed         int       `json:"managed"`
	Counts          Counts    `json:"counts"`
	Failed          []Outcome `json:"failed"`
	FailedNotShown  int       `json:"failedNotShown,omitempty"`
	Skipped         []Outcome `json:"skipped"`
	SkippedNotShown int       `json:"skippedNotShown,omitempty"`
	MapRunArn       string    `json:"mapRunArn"`
	// ByAccount counts the rotations of each member account (a fleet over accountIds).
	ByAccount map[string]Counts `json:"byAccount,omitempty"`
	// Report is the s3:// URL of the ResultWriter's manifest, which names the files holding
	// every rotation's outcome.
	Report string `json:"report"`
	// Retiring counts the rotated users whose rotation was still retiring the old keys when
	// the fleet let it go (at the cut-over); Retirement says where their outcome shows.
	Retiring   int    `json:"retiring,omitempty"`
	Retirement string `json:"retirement,omitempty"`
	// NotListed counts the items the Map ran that the fleet's listing did not write;
	// ItemsNotListed says in words how the items run differ from those listed (run but not
	// listed, listed but not run; items.go). Both are empty when the Map ran exactly the
	// listing's items.
	NotListed      int    `json:"notListed,omitempty"`
	ItemsNotListed string `json:"itemsNotListed,omitempty"`
}

// retirementNote is the summary's word on the retirements the fleet does not wait for.
const retirementNote = "%d rotated users' old keys are retired by their own rotation executions (same name as the user's Map Run child execution) after graceSeconds and inactiveSeconds, with the usual last-use check; the fleet does not wait for them. A retirement that fails ends its execution RetireFailed with the commands to finish it (ListExecutions --status-filter FAILED, or keyrotor status), and `keyrotor audit` shows the old key as one no parameter holds."

// Counts counts the fleet's rotations by outcome.
type Counts struct {
	Rotated int `json:"rotated"`
	Skipped int `json:"skipped"`
	Failed  int `json:"failed"`
}

// Outcome is one user's failed or skipped rotation.
type Outcome struct {
	User      string `json:"user"`
	AccountID string `json:"accountId,omitempty"`
	Error     string `json:"error"`
	Cause     string `json:"cause"`
	Execution string `json:"execution,omitempty"` // the Map Run's child execution of the user
}

const (
	maxListed   = 100
	maxCauseLen = 300
)

// The ResultWriter's manifest and results files
// (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html).
type resultManifest struct {
	DestinationBucket string                            `json:"DestinationBucket"`
	MapRunArn         string                            `json:"MapRunArn"`
	ResultFiles       map[string][]struct{ Key string } `json:"ResultFiles"`
}

type resultEntry struct {
	ExecutionArn string
	Input        string
	Output       string
	Status       string
	Error        string
	Cause        string
}

// childResult is what a fleet child execution outputs when it succeeds (rotated or skipped).
type childResult struct {
	User     string `json:"user"`
	Status   string `json:"status"`
	Error    string `json:"error"`
	Cause    string `json:"cause"`
	Retiring bool   `json:"retiring"`
}

// Summarize reads the fleet Map's report (manifest and results files) and returns the
// summary.
func (l *Lister) Summarize(ctx context.Context, req ListRequest) (Summary, error) {
	sum := Summary{Failed: []Outcome{}, Skipped: []Outcome{}}
	if req.Page == nil || req.Report == nil || req.Report.ResultWriterDetails.Key == "" {
		return sum, rotation.NewError(rotation.InvalidInput, nil, "summarize needs the fleet's page and the Map's ResultWriter output (report)")
	}
	sum.Listed, sum.Managed, sum.MapRunArn = req.Page.Listed, req.Page.Managed, req.Report.MapRunArn
	ref := req.Report.ResultWriterDetails
	sum.Report = "s3://" + ref.Bucket + "/" + ref.Key
	body, err := l.S3.GetObject(ctx, ref.Bucket, ref.Key)
	if err != nil {
		return sum, rotation.Classify(err, "read the fleet report's manifest "+sum.Report)
	}
	var m resultManifest
	if err := json.Unmarshal(body, &m); err != nil {
		return sum, rotation.NewError(rotation.UnexpectedError, err, "%s is not a ResultWriter manifest", sum.Report)
	}
	add := func(list *[]Outcome, notShown *int, o Outcome) {
		if len(*list) < maxListed {
			*list = append(*list, o)
		} else {
			*notShown++
		}
	}
	var ran []string // every item's child input
	for _, kind := range []string{"SUCCEEDED", "FAILED", "PENDING"} {
		for _, f := range m.ResultFiles[kind] {
			body, err := l.S3.GetObject(ctx, ref.Bucket, f.Key)
			if err != nil {
				return sum, rotation.Classify(err, "read the fleet report's "+kind+" results s3://"+ref.Bucket+"/"+f.Key)
			}
			var entries []resultEntry
			if err := json.Unmarshal(body, &entries); err != nil {
				return sum, rotation.NewError(rotation.UnexpectedError, err, "s3://%s/%s is not a ResultWriter results file", ref.Bucket, f.Key)
			}
			for _, e := range entries {
				ran = append(ran, e.Input)
				var in struct {
					UserName string `json:"userName"`
					Input    struct {
						AccountID string `json:"accountId"`
					} `json:"input"`
				}
				_ = json.Unmarshal([]byte(e.Input), &in)
				account := in.Input.AccountID
				count := func(f func(*Counts)) {
					if account == "" {
						return
					}
					if sum.ByAccount == nil {
						sum.ByAccount = map[string]Counts{}
					}
					c := sum.ByAccount[account]
					f(&c)
					sum.ByAccount[account] = c
				}
				if e.Status == "SUCCEEDED" {
					var r childResult
					if err := json.Unmarshal([]byte(e.Output), &r); err != nil {
						return sum, rotation.NewError(rotation.UnexpectedError, err, "the output of %s is not a fleet rotation result", e.ExecutionArn)
					}
					if r.Status == "skipped" {
						sum.Counts.Skipped++
						count(func(c *Counts) { c.Skipped++ })
						add(&sum.Skipped, &sum.SkippedNotShown, Outcome{User: r.User, AccountID: account, Error: r.Error, Cause: oneLine(r.Cause), Execution: e.ExecutionArn})
					} else {
						sum.Counts.Rotated++
						count(func(c *Counts) { c.Rotated++ })
						if r.Retiring {
							sum.Retiring++
						}
					}
					continue
				}
				errName := e.Error
				if errName == "" {
					errName = e.Status // stopped or timed out without an error name
				}
				sum.Counts.Failed++
				count(func(c *Counts) { c.Failed++ })
				add(&sum.Failed, &sum.FailedNotShown, Outcome{User: in.UserName, AccountID: account, Error: errName, Cause: oneLine(e.Cause), Execution: e.ExecutionArn})
			}
		}
	}
	if sum.Retiring > 0 {
		sum.Retirement = fmt.Sprintf(retirementNote, sum.Retiring)
	}
	if sum.NotListed, sum.ItemsNotListed, err = l.notListed(ctx, *req.Page, ran); err != nil {
		return sum, err
	}
	if sum.ItemsNotListed != "" {
		l.logger().Error("fleet ran items its listing did not write", "execution", req.ExecutionID, "notListed", sum.NotListed, "ran", len(ran), "managed", sum.Managed)
	}
	l.logger().Info("fleet summarized", "execution", req.ExecutionID, "rotated", sum.Counts.Rotated, "retiring", sum.Retiring, "skipped", sum.Counts.Skipped, "failed", sum.Counts.Failed)
	return sum, nil
}

// oneLine is a cause's first line, at most maxCauseLen characters. A Lambda's error
// document ({"errorType":…,"errorMessage":…}) gives its errorMessage.
func oneLine(cause string) string {
	var doc struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if strings.HasPrefix(strings.TrimSpace(cause), "{") && json.Unmarshal([]byte(cause), &doc) == nil && doc.ErrorMessage != "" {
		cause = doc.ErrorMessage
	}
	if i := strings.IndexAny(cause, "\r\n"); i >= 0 {
		cause = cause[:i]
	}
	cause = strings.TrimSpace(cause)
	if len(cause) > maxCauseLen {
		cause = cause[:maxCauseLen-3] + "..."
	}
	return cause
}

// S3Store is a Store on the S3 API.
type S3Store struct{ Client *s3.Client }

// GetObject reads an object's body.
func (s S3Store) GetObject(ctx context.Context, bucket, key string) ([]byte, error) {
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	return b, nil
}

// PutObject writes an object (JSON).
func (s S3Store) PutObject(ctx context.Context, bucket, key string, body []byte) error {
	if _, err := s.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentType: aws.String("application/json")}); err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// ptr is a pointer to a copy of v (a default for an optional field).
func ptr[T any](v T) *T { return &v }
