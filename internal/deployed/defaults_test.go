package deployed

import (
	"testing"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// The functions' built-in defaults (used when an input or environment variable is unset) must
// be the Terraform variables' defaults, the one place a deployer reads and changes them.
func TestFunctionDefaultsAreTheTerraformVariablesDefaults(t *testing.T) {
	root, err := FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ReadDefaults(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"parameter_prefix vs rotation.DefaultParameterPrefix", d.ParameterPrefix, rotation.DefaultParameterPrefix},
		{"min_grace_seconds vs rotation.DefaultMinGraceSeconds", d.MinGraceSeconds, rotation.DefaultMinGraceSeconds},
		{"min_inactive_seconds vs rotation.DefaultMinInactiveSeconds", d.MinInactiveSeconds, rotation.DefaultMinInactiveSeconds},
		{"grace_seconds vs rotation.DefaultGraceSeconds", d.GraceSeconds, rotation.DefaultGraceSeconds},
		{"inactive_seconds vs rotation.DefaultInactiveSeconds", d.InactiveSeconds, rotation.DefaultInactiveSeconds},
	} {
		if c.got != c.want {
			t.Errorf("%s: Terraform says %v, the functions %v", c.name, c.got, c.want)
		}
	}
	if d.ManagedUserPath != "/keyrotor/" {
		t.Errorf("managed_user_path defaults to %q; the README, the managed-key module and docs/steps.md say /keyrotor/", d.ManagedUserPath)
	}
}
