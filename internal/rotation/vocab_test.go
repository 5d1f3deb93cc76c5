package rotation_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// The rotation document begins with the execution input: Begin reads the input as a Rotation,
// so each Input field must stand in Rotation under the same JSON name and type.
func TestRotationBeginsWithTheInput(t *testing.T) {
	in, doc := reflect.TypeFor[rotation.Input](), reflect.TypeFor[rotation.Rotation]()
	for i := range in.NumField() {
		want, got := in.Field(i), doc.Field(i)
		if got.Name != want.Name || got.Type != want.Type || got.Tag != want.Tag {
			t.Errorf("Rotation field %d is %s %s `%s`; Input's is %s %s `%s`", i, got.Name, got.Type, got.Tag, want.Name, want.Type, want.Tag)
		}
	}
}

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
