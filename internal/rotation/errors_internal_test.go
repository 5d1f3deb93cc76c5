package rotation

import (
	"errors"
	"testing"
)

// A cause is shown to a person as it is (the CLI, the Fail state's Cause), so every message
// ends as a sentence, whether it ends with keyrotor's words or with AWS's.
func TestEveryErrorMessageEndsWithAFullStop(t *testing.T) {
	tests := []struct {
		name   string
		cause  error
		format string
		want   string
	}{
		{"keyrotor's words", nil, "IAM user %s does not exist", "IAM user bob does not exist."},
		{"already a sentence", nil, "IAM user %s does not exist.", "IAM user bob does not exist."},
		{"AWS's words without a full stop", errors.New("api error NoSuchEntity: user bob"), "read %s", "read bob: api error NoSuchEntity: user bob."},
		{"AWS's words with one", errors.New("The user with name bob cannot be found."), "read %s", "read bob: The user with name bob cannot be found."},
		{"a question", nil, "is %s in use?", "is bob in use?"},
		{"trailing space", nil, "stopped %s ", "stopped bob."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newError(InvalidInput, tt.cause, tt.format, "bob").Error(); got != tt.want {
				t.Errorf("message %q, want %q", got, tt.want)
			}
		})
	}
}
