package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

type userTagLister interface {
	iam.ListUserTagsAPIClient
}

// Begin validates and defaults the input, checks the user opted in and the parameter is
// keyrotor's (or absent), and takes the lock. Nothing changes if any check fails.
func (s *Steps) Begin(ctx context.Context, req Request) (Rotation, error) {
	if err := onlyInputFields(req.Rotation); err != nil {
		return req.Rotation, err
	}
	r, err := s.Config.withDefaults(req.Rotation)
	if err != nil {
		return req.Rotation, err
	}
	if err := s.checkManaged(ctx, r.UserName); err != nil {
		return req.Rotation, err
	}
	st, err := readParameterState(ctx, s.SSM, r.ParameterName, false)
	if err != nil {
		return req.Rotation, err
	}
	if st.foreign() {
		return req.Rotation, parameterConflict(r.ParameterName)
	}
	keys, err := listKeys(ctx, s.IAM, r.UserName)
	if err != nil {
		return req.Rotation, err
	}
	// A parameter holding a key that is not this user's belongs to someone else (or its key
	// was deleted by hand): overwriting it would hand this user's key to another's consumers.
	if st.heldKey != "" && findKey(keys, st.heldKey) == nil {
		return req.Rotation, newError(ParameterConflict, nil,
			"parameter %s holds key %s, which is not an access key of IAM user %s (it is another user's, or was deleted); "+
				"use %s's own parameter, or delete %s if its key was deleted by hand", r.ParameterName, st.heldKey, r.UserName, r.UserName, r.ParameterName)
	}
	if err := s.acquireLock(ctx, stepLogger(s.Logger, req), r.ParameterName, req.ExecutionID, otherKeys(keys, "")); err != nil {
		return req.Rotation, err
	}
	r.LockID = req.ExecutionID
	return r, nil
}

func (s *Steps) checkManaged(ctx context.Context, user string) error {
	pages := iam.NewListUserTagsPaginator(s.IAM, &iam.ListUserTagsInput{UserName: aws.String(user)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		var noUser *iamtypes.NoSuchEntityException
		if errors.As(err, &noUser) {
			return newError(UserNotFound, err, "IAM user %s does not exist; check userName", user)
		}
		if err != nil {
			return classify(err, "read tags of user "+user)
		}
		for _, t := range page.Tags {
			if aws.ToString(t.Key) == ManagedTagKey && aws.ToString(t.Value) == ManagedTagValue {
				return nil
			}
		}
	}
	return newError(UserNotManaged, nil,
		"IAM user %s is not tagged %s=%s; keyrotor rotates only users that opted in — tag the user to allow it",
		user, ManagedTagKey, ManagedTagValue)
}

// onlyInputFields refuses an execution input that sets fields the steps own (lockId,
// extensions, previousAccessKeyIds…): they would steer the rotation.
func onlyInputFields(r Rotation) error {
	r.UserName, r.ParameterName, r.GraceSeconds, r.InactiveSeconds, r.Format = "", "", nil, nil, ""
	var set, unset map[string]json.RawMessage
	got, _ := json.Marshal(r)
	zero, _ := json.Marshal(Rotation{})
	_ = json.Unmarshal(got, &set)
	_ = json.Unmarshal(zero, &unset)
	var fields []string
	for k, v := range set {
		if string(unset[k]) != string(v) {
			fields = append(fields, k)
		}
	}
	if len(fields) == 0 {
		return nil
	}
	slices.Sort(fields)
	return newError(InvalidInput, nil,
		"invalid rotation input: %s belong to keyrotor's steps, not to the input; pass only userName, parameterName, graceSeconds, inactiveSeconds and format",
		strings.Join(fields, ", "))
}
