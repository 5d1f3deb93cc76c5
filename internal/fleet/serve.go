package fleet

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// Serve answers the fleet's list, cutover and summarize actions (the listusers Lambda).
func (l *Lister) Serve(ctx context.Context, req ListRequest) (any, error) {
	switch req.Action {
	case "list":
		return l.List(ctx, req)
	case "summarize":
		return l.Summarize(ctx, req)
	case "cutover":
		return l.CheckCutOver(ctx, req)
	}
	return nil, rotation.NewError(rotation.InvalidInput, nil, "action %q is not served by this function (it serves list, cutover and summarize)", req.Action)
}

// LogAttrs are the fields a log line about the request carries.
func (req ListRequest) LogAttrs() []any { return []any{"execution", req.ExecutionID} }

// UserPathFromEnv reads KEYROTOR_USER_PATH, the IAM path under which the fleet lists users
// (default "/").
func UserPathFromEnv() (string, error) {
	path := os.Getenv(EnvUserPath)
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") || !strings.HasSuffix(path, "/") {
		return "", fmt.Errorf("%s=%q must start and end with '/', e.g. /", EnvUserPath, path)
	}
	return path, nil
}
