// Package audit reports every IAM user's access keys in an account — managed by keyrotor or
// not — with age, last use, status and whether a keyrotor parameter holds the key, and flags
// keys older than a maximum age the way AWS Config's managed rule access-keys-rotated does
// (https://docs.aws.amazon.com/config/latest/developerguide/access-keys-rotated.html: "Checks
// if active IAM access keys are rotated (changed) within the number of days specified in
// maxAccessKeyAge ... The default value is 90 days"). It reads no secret: parameters are
// described, never read; the key a parameter holds comes from its Description.
package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// DefaultMaxAge is AWS Config's default maxAccessKeyAge for access-keys-rotated (90 days).
const DefaultMaxAge = 90 * 24 * time.Hour

// IAM is what the audit reads from IAM.
type IAM interface {
	iam.ListUsersAPIClient
	iam.ListAccessKeysAPIClient
	iam.ListUserTagsAPIClient
	GetAccessKeyLastUsed(context.Context, *iam.GetAccessKeyLastUsedInput, ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
}

// SSM is what the audit reads from Parameter Store: parameter metadata only, never a value.
type SSM interface {
	ssm.DescribeParametersAPIClient
}

// Options says what to audit.
type Options struct {
	// ParameterPrefix is where keyrotor's parameters live (default rotation.DefaultParameterPrefix).
	ParameterPrefix string
	// MaxAge flags active keys older than it (default DefaultMaxAge).
	MaxAge time.Duration
	// Now is the time ages are measured at (default time.Now).
	Now func() time.Time
}

// Key is one access key. It has no field that could hold a secret.
type Key struct {
	User        string     `json:"user"`
	AccessKeyID string     `json:"access_key_id"`
	Status      string     `json:"status"`
	Created     time.Time  `json:"created"`
	AgeDays     float64    `json:"age_days"`
	LastUsed    *time.Time `json:"last_used,omitempty"`
	LastService string     `json:"last_service,omitempty"`
	// Managed: the user carries keyrotor:managed=true.
	Managed bool `json:"managed"`
	// HeldBy is the keyrotor parameter that holds this key ("" when none does).
	HeldBy string `json:"held_by,omitempty"`
	// OverMaxAge: an active key older than the maximum age (access-keys-rotated: NON_COMPLIANT).
	OverMaxAge bool `json:"over_max_age"`
}

// Report is one account's audit.
type Report struct {
	MaxAgeDays float64 `json:"max_age_days"`
	Users      int     `json:"users"`
	Keys       []Key   `json:"keys"`
	// UsersWithoutKeys are the users that have no access key (counted in Users).
	UsersWithoutKeys []string `json:"users_without_keys"`
	OverMaxAge       int      `json:"over_max_age"`
}

// Run audits every IAM user's access keys.
func Run(ctx context.Context, iamc IAM, ssmc SSM, opts Options) (*Report, error) {
	if opts.ParameterPrefix == "" {
		opts.ParameterPrefix = rotation.DefaultParameterPrefix
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	now := opts.Now()
	held, err := heldKeys(ctx, ssmc, opts.ParameterPrefix)
	if err != nil {
		return nil, err
	}
	r := &Report{MaxAgeDays: opts.MaxAge.Hours() / 24, UsersWithoutKeys: []string{}}
	users := iam.NewListUsersPaginator(iamc, &iam.ListUsersInput{})
	for users.HasMorePages() {
		page, err := users.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("audit: list IAM users (iam:ListUsers): %w", err)
		}
		for _, u := range page.Users {
			r.Users++
			keys, err := userKeys(ctx, iamc, aws.ToString(u.UserName), held, now, opts.MaxAge)
			if err != nil {
				return nil, err
			}
			if len(keys) == 0 {
				r.UsersWithoutKeys = append(r.UsersWithoutKeys, aws.ToString(u.UserName))
			}
			r.Keys = append(r.Keys, keys...)
		}
	}
	slices.Sort(r.UsersWithoutKeys)
	slices.SortFunc(r.Keys, func(a, b Key) int {
		return strings.Compare(a.User+"/"+a.AccessKeyID, b.User+"/"+b.AccessKeyID)
	})
	for _, k := range r.Keys {
		if k.OverMaxAge {
			r.OverMaxAge++
		}
	}
	return r, nil
}

func userKeys(ctx context.Context, iamc IAM, user string, held map[string]string, now time.Time, maxAge time.Duration) ([]Key, error) {
	managed, err := isManaged(ctx, iamc, user)
	if err != nil {
		return nil, err
	}
	var keys []Key
	pages := iam.NewListAccessKeysPaginator(iamc, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("audit: list access keys of %s (iam:ListAccessKeys): %w", user, err)
		}
		for _, m := range page.AccessKeyMetadata {
			id := aws.ToString(m.AccessKeyId)
			created := aws.ToTime(m.CreateDate)
			age := now.Sub(created)
			k := Key{
				User: user, AccessKeyID: id, Status: string(m.Status), Created: created,
				AgeDays: float64(int64(age.Hours()/24*10)) / 10, Managed: managed, HeldBy: held[id],
				OverMaxAge: m.Status == iamtypes.StatusTypeActive && age > maxAge,
			}
			used, err := iamc.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(id)})
			if err != nil {
				return nil, fmt.Errorf("audit: last use of %s's key %s (iam:GetAccessKeyLastUsed): %w", user, id, err)
			}
			if lu := used.AccessKeyLastUsed; lu != nil && lu.LastUsedDate != nil {
				t := aws.ToTime(lu.LastUsedDate)
				k.LastUsed, k.LastService = &t, aws.ToString(lu.ServiceName)
			}
			keys = append(keys, k)
		}
	}
	return keys, nil
}

func isManaged(ctx context.Context, iamc IAM, user string) (bool, error) {
	pages := iam.NewListUserTagsPaginator(iamc, &iam.ListUserTagsInput{UserName: aws.String(user)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return false, fmt.Errorf("audit: tags of %s (iam:ListUserTags): %w", user, err)
		}
		for _, t := range page.Tags {
			if aws.ToString(t.Key) == rotation.ManagedTagKey && aws.ToString(t.Value) == rotation.ManagedTagValue {
				return true, nil
			}
		}
	}
	return false, nil
}

// heldKeys maps each AccessKeyId a keyrotor parameter under prefix holds to that parameter.
func heldKeys(ctx context.Context, ssmc SSM, prefix string) (map[string]string, error) {
	held := map[string]string{}
	pages := ssm.NewDescribeParametersPaginator(ssmc, &ssm.DescribeParametersInput{
		ParameterFilters: []ssmtypes.ParameterStringFilter{{
			Key: aws.String("Path"), Option: aws.String("Recursive"), Values: []string{strings.TrimSuffix(prefix, "/")},
		}},
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("audit: describe parameters under %s (ssm:DescribeParameters): %w", prefix, err)
		}
		for _, p := range page.Parameters {
			if id := rotation.HeldAccessKeyID(aws.ToString(p.Description)); id != "" {
				held[id] = aws.ToString(p.Name)
			}
		}
	}
	return held, nil
}
