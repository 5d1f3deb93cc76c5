package rotation

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// The fleet document travels through statemachine/rotate-fleet.asl.json. Its input fields
// (all optional) configure the fleet; the list action defaults and validates them and adds one
// page of managed users per call, so the state machine loops while More is true.
type Fleet struct {
	// MaxConcurrency is how many rotations run at once (default 10, 1 … 1000).
	MaxConcurrency *int `json:"maxConcurrency,omitempty"`
	// ToleratedFailurePercentage is the share of failed rotations above which the fleet stops
	// and fails (default 100: every user is attempted; 0 … 100).
	ToleratedFailurePercentage *int `json:"toleratedFailurePercentage,omitempty"`
	// PathPrefix narrows the fleet to the users under an IAM path within the engine's
	// (default: the engine's managed user path).
	PathPrefix string `json:"pathPrefix,omitempty"`
	// Rotation is the part of every child execution's input that the fleet sets.
	Rotation *FleetRotation `json:"rotation,omitempty"`
	// GraceSeconds and InactiveSeconds are input shorthands, moved into Rotation.
	GraceSeconds    *int `json:"graceSeconds,omitempty"`
	InactiveSeconds *int `json:"inactiveSeconds,omitempty"`

	// Users are the managed users listed so far, each the per-user part of a rotation input.
	Users []FleetUser `json:"users"`
	// Marker continues the IAM listing; More says whether another page follows.
	Marker string `json:"marker,omitempty"`
	More   bool   `json:"more"`
	// Listed counts the IAM users seen (managed or not).
	Listed int `json:"listed"`
}

// FleetRotation is the input every rotation of a fleet shares.
type FleetRotation struct {
	GraceSeconds    int `json:"graceSeconds"`
	InactiveSeconds int `json:"inactiveSeconds"`
}

// FleetUser is the per-user part of a rotation input. ParameterName and Format are set only
// from the user's tags; left out, the rotation's Begin defaults them.
type FleetUser struct {
	UserName      string `json:"userName"`
	ParameterName string `json:"parameterName,omitempty"`
	Format        string `json:"format,omitempty"`
}

// ListRequest is the event of the fleet's listing Task.
type ListRequest struct {
	Action      string `json:"action"`
	ExecutionID string `json:"executionId"`
	Fleet       Fleet  `json:"fleet"`
}

// Fleet defaults and bounds.
const (
	DefaultFleetConcurrency = 10
	MaxFleetConcurrency     = 1000
	// DefaultToleratedFailurePercentage attempts every user: one user's failure (a key in use
	// elsewhere, a missing tag) says nothing about the others.
	DefaultToleratedFailurePercentage = 100
	listPageSize                      = 100
	// tagReaders bounds the concurrent ListUserTags calls of one page.
	tagReaders = 8
)

// EnvUserPath is the IAM path under which the fleet lists users (the engine module's
// managed_user_path; default "/").
const EnvUserPath = "KEYROTOR_USER_PATH"

var iamPathRE = regexp.MustCompile(`^/([\w+=,.@-]+/)*$`)

type userLister interface {
	iam.ListUsersAPIClient
}

// FleetIAM is what listing managed users needs of the IAM client.
type FleetIAM interface {
	userLister
	userTagLister
}

// Lister lists the users tagged keyrotor:managed=true for the fleet state machine.
type Lister struct {
	IAM      FleetIAM
	UserPath string
	Logger   *slog.Logger
	// PageSize is how many IAM users one call reads (0: 100, small enough that the page's
	// ListUserTags calls fit well within the function's timeout).
	PageSize int32
}

// List defaults and validates the fleet's configuration on the first call, then reads one page
// of IAM users under UserPath and appends those tagged keyrotor:managed=true.
func (l *Lister) List(ctx context.Context, req ListRequest) (Fleet, error) {
	path := l.UserPath
	if path == "" {
		path = "/"
	}
	f, err := fleetDefaults(req.Fleet, path)
	if err != nil {
		return req.Fleet, err
	}
	if f.Users == nil {
		f.Users = []FleetUser{}
	}
	path = f.PathPrefix
	size := l.PageSize
	if size <= 0 {
		size = listPageSize
	}
	in := &iam.ListUsersInput{PathPrefix: aws.String(path), MaxItems: aws.Int32(size)}
	if f.Marker != "" {
		in.Marker = aws.String(f.Marker)
	}
	page, err := l.IAM.ListUsers(ctx, in)
	if err != nil {
		return req.Fleet, classify(err, "list IAM users under "+path)
	}
	users := make([]*FleetUser, len(page.Users))
	errs := make([]error, len(page.Users))
	sem := make(chan struct{}, tagReaders)
	var wg sync.WaitGroup
	for i, u := range page.Users {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			users[i], errs[i] = l.managedUser(ctx, aws.ToString(u.UserName))
		}()
	}
	wg.Wait()
	for i := range users {
		if errs[i] != nil {
			return req.Fleet, errs[i]
		}
		if users[i] != nil {
			f.Users = append(f.Users, *users[i])
		}
	}
	f.Listed += len(page.Users)
	f.More = page.IsTruncated
	f.Marker = ""
	if page.IsTruncated {
		f.Marker = aws.ToString(page.Marker)
	}
	l.logger().Info("listed managed users", "execution", req.ExecutionID, "page", len(page.Users), "managed", len(f.Users), "listed", f.Listed, "more", f.More)
	return f, nil
}

// managedUser reads the user's tags: nil if the user has not opted in (or was deleted since the
// listing), else the per-user part of its rotation input.
func (l *Lister) managedUser(ctx context.Context, name string) (*FleetUser, error) {
	u := &FleetUser{UserName: name}
	managed := false
	pages := iam.NewListUserTagsPaginator(l.IAM, &iam.ListUserTagsInput{UserName: aws.String(name)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if hasCode(err, "NoSuchEntity") {
			return nil, nil
		}
		if err != nil {
			return nil, classify(err, "read tags of user "+name)
		}
		for _, t := range page.Tags {
			switch aws.ToString(t.Key) {
			case ManagedTagKey:
				managed = aws.ToString(t.Value) == ManagedTagValue
			case ParameterTagKey:
				u.ParameterName = aws.ToString(t.Value)
			case FormatTagKey:
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
func fleetDefaults(f Fleet, userPath string) (Fleet, error) {
	var problems []string
	if f.PathPrefix == "" {
		f.PathPrefix = userPath
	}
	if !strings.HasPrefix(f.PathPrefix, userPath) || !iamPathRE.MatchString(f.PathPrefix) {
		problems = append(problems, fmt.Sprintf("pathPrefix %q must be an IAM path (starting and ending with /) under the engine's managed user path %s", f.PathPrefix, userPath))
	}
	f.MaxConcurrency = defaulted(f.MaxConcurrency, DefaultFleetConcurrency)
	if n := *f.MaxConcurrency; n < 1 || n > MaxFleetConcurrency {
		problems = append(problems, fmt.Sprintf("maxConcurrency %d must be between 1 and %d", n, MaxFleetConcurrency))
	}
	f.ToleratedFailurePercentage = defaulted(f.ToleratedFailurePercentage, DefaultToleratedFailurePercentage)
	if p := *f.ToleratedFailurePercentage; p < 0 || p > 100 {
		problems = append(problems, fmt.Sprintf("toleratedFailurePercentage %d must be between 0 and 100", p))
	}
	if f.Rotation == nil {
		f.Rotation = &FleetRotation{GraceSeconds: DefaultGraceSeconds, InactiveSeconds: DefaultInactiveSeconds}
	}
	if f.GraceSeconds != nil {
		f.Rotation.GraceSeconds, f.GraceSeconds = *f.GraceSeconds, nil
	}
	if f.InactiveSeconds != nil {
		f.Rotation.InactiveSeconds, f.InactiveSeconds = *f.InactiveSeconds, nil
	}
	if g := f.Rotation.GraceSeconds; g < 0 || g > MaxGraceSeconds {
		problems = append(problems, fmt.Sprintf("graceSeconds %d must be between 0 and %d", g, MaxGraceSeconds))
	}
	if s := f.Rotation.InactiveSeconds; s < 0 || s > MaxInactiveSeconds {
		problems = append(problems, fmt.Sprintf("inactiveSeconds %d must be between 0 and %d", s, MaxInactiveSeconds))
	}
	if len(problems) > 0 {
		return f, newError(InvalidInput, nil, "invalid fleet input: %s", strings.Join(problems, "; "))
	}
	return f, nil
}

func (l *Lister) logger() *slog.Logger {
	if l.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Logger
}
