package faultproxy

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// TestListUsersIsPagedAsAWSPages: moto answers every user at once; through the proxy a
// ListUsers answers at most MaxItems (default 100) with a Marker, and paging reads every user
// once, in moto's order.
func TestListUsersIsPagedAsAWSPages(t *testing.T) {
	ctx := context.Background()
	p, cfg := startProxy(t)
	client := iam.NewFromConfig(cfg)
	const users = 7
	var want []string
	for i := range users {
		name := fmt.Sprintf("paged-%d", i)
		want = append(want, name)
		// Tags make a member hold a list of its own.
		if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name), Path: aws.String("/paging/"),
			Tags: []iamtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		maxItems  int32
		wantPages []int
	}{
		{"pages of 3", 3, []int{3, 3, 1}},
		{"pages of 7: one, not truncated", 7, []int{7}},
		{"pages of 1", 1, []int{1, 1, 1, 1, 1, 1, 1}},
		{"IAM's default of 100", 0, []int{7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &iam.ListUsersInput{PathPrefix: aws.String("/paging/")}
			if tt.maxItems > 0 {
				in.MaxItems = aws.Int32(tt.maxItems)
			}
			var got []string
			var pages []int
			for {
				out, err := client.ListUsers(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				pages = append(pages, len(out.Users))
				for _, u := range out.Users {
					got = append(got, aws.ToString(u.UserName))
				}
				if !out.IsTruncated {
					if out.Marker != nil {
						t.Errorf("last page has a marker %q", aws.ToString(out.Marker))
					}
					break
				}
				if len(pages) > users {
					t.Fatal("paging does not end")
				}
				in.Marker = out.Marker
			}
			if fmt.Sprint(pages) != fmt.Sprint(tt.wantPages) {
				t.Errorf("pages of %v users, want %v", pages, tt.wantPages)
			}
			seen := map[string]bool{}
			for _, n := range got {
				seen[n] = true
			}
			if len(got) != users || len(seen) != users {
				t.Fatalf("paging read %v, want each of %v once", got, want)
			}
		})
	}
	_ = p
}
