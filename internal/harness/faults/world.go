package faults

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// World is every user's keys and every parameter's version (locks included): what any
// rotation could change, anywhere.
type World struct {
	Keys       map[string]string // user → its keys and their status
	Parameters map[string]int64  // name → version
}

// World reads the whole account as the administrator.
func (b *Bench) World(ctx context.Context) (World, error) {
	w := World{Keys: map[string]string{}, Parameters: map[string]int64{}}
	users := iam.NewListUsersPaginator(b.iam, &iam.ListUsersInput{})
	for users.HasMorePages() {
		page, err := users.NextPage(ctx)
		if err != nil {
			return w, fmt.Errorf("list users: %w", err)
		}
		for _, u := range page.Users {
			out, err := b.iam.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: u.UserName})
			if err != nil {
				return w, fmt.Errorf("list keys of %s: %w", aws.ToString(u.UserName), err)
			}
			var keys []string
			for _, k := range out.AccessKeyMetadata {
				keys = append(keys, aws.ToString(k.AccessKeyId)+":"+string(k.Status))
			}
			slices.Sort(keys)
			w.Keys[aws.ToString(u.UserName)] = strings.Join(keys, ",")
		}
	}
	params := ssm.NewDescribeParametersPaginator(b.ssm, &ssm.DescribeParametersInput{})
	for params.HasMorePages() {
		page, err := params.NextPage(ctx)
		if err != nil {
			return w, fmt.Errorf("describe parameters: %w", err)
		}
		for _, p := range page.Parameters {
			w.Parameters[aws.ToString(p.Name)] = p.Version
		}
	}
	return w, nil
}

// Diff says what changed from w to o ("" when nothing did).
func (w World) Diff(o World) string {
	var d []string
	for _, u := range slices.Sorted(maps.Keys(o.Keys)) {
		if before, ok := w.Keys[u]; !ok {
			d = append(d, "new user "+u)
		} else if before != o.Keys[u] {
			d = append(d, fmt.Sprintf("keys of %s: %s → %s", u, before, o.Keys[u]))
		}
	}
	for _, p := range slices.Sorted(maps.Keys(o.Parameters)) {
		if before, ok := w.Parameters[p]; !ok {
			d = append(d, "new parameter "+p)
		} else if before != o.Parameters[p] {
			d = append(d, fmt.Sprintf("parameter %s: version %d → %d", p, before, o.Parameters[p]))
		}
	}
	for p := range w.Parameters {
		if _, ok := o.Parameters[p]; !ok {
			d = append(d, "parameter gone: "+p)
		}
	}
	return strings.Join(d, "; ")
}
