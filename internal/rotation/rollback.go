package rotation

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Rollback is the end of every failure path once a key may exist: it deletes the key(s) this
// execution created unless the parameter holds one, releases the lock and sets failure.
func (s *Steps) Rollback(ctx context.Context, req Request) (Rotation, error) {
	return s.abandon(ctx, req)
}

// Release ends a failure before CreateKey finished: it releases the lock (if ours) and sets
// failure. A key an interrupted CreateKey left behind is deleted like Rollback does.
func (s *Steps) Release(ctx context.Context, req Request) (Rotation, error) {
	return s.abandon(ctx, req)
}

func (s *Steps) abandon(ctx context.Context, req Request) (Rotation, error) {
	r := req.Rotation
	if err := requireFields(req.Action, "userName", r.UserName, "parameterName", r.ParameterName); err != nil {
		return r, err
	}
	log := stepLogger(s.Logger, req)
	var done []string
	l, err := readLock(ctx, s.SSM, r.ParameterName)
	if err != nil {
		return r, err
	}
	ours := l != nil && l.ExecutionID == req.ExecutionID
	// A request that names a new key must be backed by this execution's lock recording that
	// key: the function deletes only keys keyrotor recorded creating, for a running execution.
	released := false
	if l == nil && r.NewAccessKeyID != "" {
		// Released by an earlier attempt of this step whose answer was lost (it deleted the
		// key first), or never ours: either way nothing may be deleted now. Only a RUNNING
		// execution gets an answer.
		if _, err := s.describeRunning(ctx, r.ParameterName, req.ExecutionID); err != nil {
			return r, err
		}
		released = true
	}
	if r.NewAccessKeyID != "" && !released && (!ours || l.NewAccessKeyID != r.NewAccessKeyID) {
		return r, NewError(NotAuthorized, nil,
			"%s asks to delete key %s of %s, but no lock of execution %s records creating it; keyrotor deletes only keys its running execution recorded, so nothing was deleted",
			req.Action, r.NewAccessKeyID, r.UserName, req.ExecutionID)
	}
	if ours {
		if l, err = s.recordFor(ctx, req, true); err != nil {
			return r, err
		}
	}

	st, err := readParameterState(ctx, s.SSM, r.ParameterName, false)
	if err != nil {
		return r, err
	}
	// Never leave the user with the new key held and the lock gone (two active keys, nobody to
	// finish): while the parameter holds this rotation's key, both stay. Once the execution
	// ends, the next rotation adopts the key from the record and finishes (lock.go).
	if ours && l.NewAccessKeyID != "" && st.heldKey == l.NewAccessKeyID {
		log.Warn("parameter holds the new key; keeping it and the lock for the next rotation", "accessKeyId", l.NewAccessKeyID)
		r.Failure = failureOf(r, []string{fmt.Sprintf(
			"Kept the new key %s and the lock %s because parameter %s holds the key; the next rotation of %s verifies it again and retires the old keys, or restores the previous version if it fails.",
			l.NewAccessKeyID, lockName(l.ParameterName), l.ParameterName, l.UserName)})
		return r, nil
	}
	var created []string
	if ours {
		keys, err := listKeys(ctx, s.IAM, l.UserName)
		if err != nil {
			return r, err
		}
		if l.NewAccessKeyID != "" && containsKey(keys, l.NewAccessKeyID) {
			created = append(created, l.NewAccessKeyID)
		}
		for _, id := range strayKeys(keys, l, st.heldKey, slices.Concat(created, r.PreviousAccessKeyIDs)) {
			created = append(created, id)
		}
	}
	for _, id := range created {
		if id == st.heldKey {
			log.Warn("parameter holds the new key; keeping it", "accessKeyId", id)
			done = append(done, fmt.Sprintf("Kept the new key %s because parameter %s holds it; restore the parameter's previous version, then delete the key.", id, r.ParameterName))
			continue
		}
		if err := deleteKey(ctx, s.IAM, l.UserName, id); err != nil {
			return r, err
		}
		log.Info("new key deleted", "accessKeyId", id)
		done = append(done, fmt.Sprintf("Deleted the new key %s.", id))
	}
	switch {
	case st.heldKey != "" && !slices.Contains(created, st.heldKey):
		done = append(done, fmt.Sprintf("Parameter %s holds key %s, as before.", r.ParameterName, st.heldKey))
	case !st.exists:
		done = append(done, fmt.Sprintf("Parameter %s does not exist.", r.ParameterName))
	}
	if released {
		done = append(done, "An earlier attempt of this step released the lock.")
	}
	releasedNow, err := releaseLock(ctx, s.SSM, r.ParameterName, req.ExecutionID)
	if err != nil {
		return r, err
	}
	if releasedNow {
		done = append(done, "Released the lock.")
	}
	r.Failure = failureOf(r, done)
	log.Info("rotation rolled back", "error", r.Failure.Error, "lockReleased", releasedNow)
	return r, nil
}

// failureOf explains the caught error and what the rollback did, for a person.
func failureOf(r Rotation, done []string) *Failure {
	name, msg := RotationFailed, "the rotation failed"
	if r.Error != nil {
		name, msg = r.Error.Error, causeMessage(r.Error.Cause)
	}
	cause := fmt.Sprintf("Rotation of IAM user %s failed (%s): %s.", r.UserName, name, strings.TrimSuffix(msg, "."))
	if len(done) > 0 {
		cause += " " + strings.Join(done, " ")
	}
	return &Failure{Error: name, Cause: cause}
}

// causeMessage extracts errorMessage from a Lambda error Cause; other causes pass as they are.
func causeMessage(cause string) string {
	var lambdaErr struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(cause), &lambdaErr) == nil && lambdaErr.ErrorMessage != "" {
		return lambdaErr.ErrorMessage
	}
	if cause == "" {
		return "no cause given"
	}
	return cause
}
