package rotation

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// Ownership record: tags StoreParameter puts on the parameter (AddTagsToResource) each time it
// writes it, readable without the secret (ListTagsForResource needs no kms:Decrypt).
// Tags, not the Description, because consumers parse the Description as "keyrotor:<id>";
// a crash between PutParameter and AddTagsToResource leaves a parameter whose owner is still
// the user whose key it holds (the rule for parameters written before the record existed), and
// the next Store writes the tags. PutParameter cannot tag an overwrite ("Tags can't be used
// with Overwrite", https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html).
const (
	OwnerUserTagKey = "keyrotor:owner-user"
	OwnerIDTagKey   = "keyrotor:owner-id"
	// FormatTagKey (read by the fleet's listing too) also records the parameter's format.
)

// Owner is a parameter's ownership record.
type Owner struct {
	Exists  bool
	HeldKey string // AccessKeyId the current version holds ("" if keyrotor did not write it)
	User    string // "" if the parameter carries no record (written before records existed)
	UserID  string
	Format  string
}

type parameterTagger interface {
	ListTagsForResource(ctx context.Context, in *ssm.ListTagsForResourceInput, opts ...func(*ssm.Options)) (*ssm.ListTagsForResourceOutput, error)
	AddTagsToResource(ctx context.Context, in *ssm.AddTagsToResourceInput, opts ...func(*ssm.Options)) (*ssm.AddTagsToResourceOutput, error)
}

type ownerReader interface {
	parameterHistoryReader
	ListTagsForResource(ctx context.Context, in *ssm.ListTagsForResourceInput, opts ...func(*ssm.Options)) (*ssm.ListTagsForResourceOutput, error)
}

// ReadOwner reads a parameter's held key (history, not decrypted) and ownership tags.
func ReadOwner(ctx context.Context, client ownerReader, name string) (Owner, error) {
	st, err := readParameterState(ctx, client, name, false)
	if err != nil || !st.exists {
		return Owner{}, err
	}
	o := Owner{Exists: true, HeldKey: st.heldKey}
	out, err := client.ListTagsForResource(ctx, &ssm.ListTagsForResourceInput{
		ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String(name),
	})
	if err != nil {
		return o, Classify(err, "read the ownership tags of parameter "+name)
	}
	for _, t := range out.TagList {
		switch aws.ToString(t.Key) {
		case OwnerUserTagKey:
			o.User = decodeTagUserName(aws.ToString(t.Value))
		case OwnerIDTagKey:
			o.UserID = aws.ToString(t.Value)
		case FormatTagKey:
			o.Format = aws.ToString(t.Value)
		}
	}
	return o, nil
}

// OwnedBy reports whether the record makes the parameter user's: its tags name the user (and
// its id, when both are known), or, with no tags, it holds one of the user's keys.
func (o Owner) OwnedBy(user, userID string, keys []string) bool {
	if o.User != "" {
		return o.User == user && (o.UserID == "" || userID == "" || o.UserID == userID)
	}
	return o.HeldKey != "" && slices.Contains(keys, o.HeldKey)
}

// An IAM user name may contain ',' (https://docs.aws.amazon.com/IAM/latest/APIReference/API_User.html,
// [\w+=,.@-]+), which an SSM tag value may not (Tag.Value pattern ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$ in
// botocore's data/ssm/2014-11-06/service-2.json). The owner-user tag writes each ',' as a space,
// which no IAM user name contains, so the encoding is reversible. Identity itself is the
// owner-id tag (the IAM user id); the name is what a person reads.
func encodeTagUserName(user string) string { return strings.ReplaceAll(user, ",", " ") }

func decodeTagUserName(value string) string { return strings.ReplaceAll(value, " ", ",") }

// writeOwner tags the parameter with its owner and format.
func writeOwner(ctx context.Context, client parameterTagger, name, user, userID, format string) error {
	tags := []ssmtypes.Tag{{Key: aws.String(OwnerUserTagKey), Value: aws.String(encodeTagUserName(user))}, {Key: aws.String(FormatTagKey), Value: aws.String(format)}}
	if userID != "" {
		tags = append(tags, ssmtypes.Tag{Key: aws.String(OwnerIDTagKey), Value: aws.String(userID)})
	}
	_, err := client.AddTagsToResource(ctx, &ssm.AddTagsToResourceInput{
		ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String(name), Tags: tags,
	})
	if err != nil {
		return Classify(err, "record the owner of parameter "+name)
	}
	return nil
}

type parameterHistoryReader interface {
	ssm.GetParameterHistoryAPIClient
}

// parameterState is what the parameter's history says.
type parameterState struct {
	exists   bool
	version  int64  // current version (0: no parameter)
	heldKey  string // AccessKeyId the current version holds ("" if not written by keyrotor)
	versions []ssmtypes.ParameterHistory
}

// heldKeyOf reads the AccessKeyId a version holds from its Description.
func heldKeyOf(v ssmtypes.ParameterHistory) string {
	return HeldAccessKeyID(aws.ToString(v.Description))
}

// readParameterState pages through the parameter's history (values decrypted only when asked).
func readParameterState(ctx context.Context, client parameterHistoryReader, name string, decrypt bool) (parameterState, error) {
	var st parameterState
	pages := ssm.NewGetParameterHistoryPaginator(client, &ssm.GetParameterHistoryInput{
		Name: aws.String(name), WithDecryption: aws.Bool(decrypt),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		var notFound *ssmtypes.ParameterNotFound
		if errors.As(err, &notFound) {
			return parameterState{}, nil
		}
		if err != nil {
			return parameterState{}, Classify(err, "read history of parameter "+name)
		}
		st.versions = append(st.versions, page.Parameters...)
	}
	for _, v := range st.versions {
		if v.Version > st.version {
			st.exists, st.version, st.heldKey = true, v.Version, heldKeyOf(v)
		}
	}
	return st, nil
}

// foreign reports a parameter keyrotor did not write (nothing says which key it holds).
func (st parameterState) foreign() bool { return st.exists && st.heldKey == "" }

// latestVersionNotHolding is the newest version holding a different key than id (0: none).
func (st parameterState) latestVersionNotHolding(id string) *ssmtypes.ParameterHistory {
	var best *ssmtypes.ParameterHistory
	for i, v := range st.versions {
		if heldKeyOf(v) != id && (best == nil || v.Version > best.Version) {
			best = &st.versions[i]
		}
	}
	return best
}

func (st parameterState) at(version int64) *ssmtypes.ParameterHistory {
	for i, v := range st.versions {
		if v.Version == version {
			return &st.versions[i]
		}
	}
	return nil
}

func parameterConflict(name string) error {
	return NewError(ParameterConflict, nil,
		"parameter %s exists but was not written by keyrotor (its Description does not name the key it holds); "+
			"delete it or choose another parameterName", name)
}

// candidateParameters are the names where a user's keyrotor parameter can be: the default
// <prefix><user> and the user's keyrotor:parameter tag (the managed-key module writes it for a
// custom parameter_name), plus any the caller adds. Listing every parameter would need
// ssm:DescribeParameters, which takes no resource-level permission (Resource "*").
func candidateParameters(prefix, user string, tags map[string]string, more ...string) []string {
	var names []string
	for _, n := range append([]string{prefix + user, tags[ParameterTagKey]}, more...) {
		if n != "" && strings.HasPrefix(n, prefix) && paramNameRE.MatchString(n) && !strings.HasSuffix(n, LockSuffix) && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}
