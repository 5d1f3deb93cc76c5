package rotation_test

import (
	"strings"
	"testing"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

func TestValidUserNameFollowsIAM(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"s3-signer", true},
		{"a+b=c,d.e@f_g", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"has space", false},
		{"slash/name", false},
	}
	for _, tt := range tests {
		if got := rotation.ValidUserName(tt.name); got != tt.ok {
			t.Errorf("ValidUserName(%q) = %v, want %v", tt.name, got, tt.ok)
		}
	}
}
