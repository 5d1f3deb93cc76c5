package rotation

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

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
			return parameterState{}, classify(err, "read history of parameter "+name)
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
	return newError(ParameterConflict, nil,
		"parameter %s exists but was not written by keyrotor (its Description does not name the key it holds); "+
			"delete it or choose another parameterName", name)
}
