package tfschema

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/keyrotor/keyrotor/internal/deployed"
)

// schemaFor generates (or reads from build/) the schema of every type the repository and the
// fixtures use, from @cdktf/provider-aws (scripts/npm/node_modules/@cdktf/provider-aws: .jsii
// and lib/<resource>/index.js, generated from hashicorp/aws 6.25.0).
func schemaFor(t *testing.T, dirs ...string) (string, *Schema) {
	t.Helper()
	root, err := deployed.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	repo, err := ModuleDirs(root)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, d := range append(repo, dirs...) {
		m, err := LoadModule(d)
		if err != nil {
			t.Fatal(err)
		}
		types = union(types, m.Types())
	}
	s, err := Generate(context.Background(), root, types)
	if err != nil {
		t.Fatal(err)
	}
	return root, s
}

// fixtures writes out testdata/fixtures.txtar, one directory per fixture and the modules they
// call, and returns the directory holding them.
func fixtures(t *testing.T) string {
	t.Helper()
	ar, err := txtar.ParseFile(filepath.Join("testdata", "fixtures.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	for _, f := range ar.Files {
		path := filepath.Join(base, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return base
}

// fixtureDirs lists the fixtures under base, the modules they call left out.
func fixtureDirs(t *testing.T, base string) []string {
	t.Helper()
	entries, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "modules" {
			dirs = append(dirs, filepath.Join(base, e.Name()))
		}
	}
	return dirs
}

func TestSchemaIsHashicorpAWS6FromTheProviderPackage(t *testing.T) {
	_, s := schemaFor(t)
	if s.Provider != "hashicorp/aws" || !strings.HasPrefix(s.Version, "6.") {
		t.Fatalf("schema of %s %s, want hashicorp/aws 6.x", s.Provider, s.Version)
	}
	fn := s.Resources["aws_lambda_function"]
	if fn == nil {
		t.Fatal("aws_lambda_function is missing from the schema")
	}
	// Facts of the provider's schema, as its registry documents them.
	if a := fn.Attributes["function_name"]; a == nil || !a.Required {
		t.Error("aws_lambda_function.function_name should be a required argument")
	}
	if a := fn.Attributes["arn"]; a == nil || !a.ComputedOnly {
		t.Error("aws_lambda_function.arn should be read-only")
	}
	if b := fn.Blocks["tracing_config"]; b == nil || b.MaxItems != 1 || b.Block.Attributes["mode"] == nil || !b.Block.Attributes["mode"].Required {
		t.Error("aws_lambda_function.tracing_config should be a single block with a required mode")
	}
	if b := s.Resources["aws_scheduler_schedule"].Blocks["flexible_time_window"]; b == nil || b.MinItems != 1 {
		t.Error("aws_scheduler_schedule.flexible_time_window should be a required block")
	}
	if r := s.DataSources["aws_region"]; r == nil || r.Attributes["region"] == nil {
		t.Error("data aws_region should have region (provider 6)")
	}
}

func TestRepositoryTerraformMatchesTheProviderSchema(t *testing.T) {
	root, _ := schemaFor(t)
	dirs, err := ModuleDirs(root)
	if err != nil {
		t.Fatal(err)
	}
	r, s, err := CheckDirs(context.Background(), root, dirs)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.Problems {
		t.Error(p)
	}
	if r.Resources < 30 || r.Arguments < 200 {
		t.Errorf("checked only %d resources and %d arguments", r.Resources, r.Arguments)
	}
	t.Log(Summary(r, s))
}

// Each fixture of testdata/fixtures.txtar holds exactly one mistake; the checker must report
// it, once, for the right reason. good/ breaks no rule and uses each construct the others break.
func TestCheckerCatchesOneOfEachMistake(t *testing.T) {
	base := fixtures(t)
	root, _ := schemaFor(t, fixtureDirs(t, base)...)
	tests := []struct {
		fixture string
		want    string
	}{
		{"good", ""},
		{"unknown-resource-type", `resource type "aws_lambda_functon" does not exist in hashicorp/aws 6.25.0`},
		{"unknown-data-source", `data source "aws_regions_current" does not exist`},
		{"unknown-argument", `aws_iam_role.r: unsupported argument "assume_role_policy_json"`},
		{"block-used-as-argument", "tracing_config is a block: write tracing_config { ... }"},
		{"argument-used-as-block", "aws_lambda_function.f.environment: variables is an argument: write variables = ..."},
		{"missing-required-argument", `aws_iam_role.r: required argument "assume_role_policy" is missing`},
		{"missing-required-block", `aws_scheduler_schedule.s: required block "flexible_time_window" is missing`},
		{"literal-wrong-type", "aws_lambda_function.f: timeout must be number, not string"},
		{"list-for-string", "aws_lambda_function.f: handler must be string, not a list"},
		{"nested-unknown-argument", `aws_sfn_state_machine.m.logging_configuration: unsupported argument "levle"`},
		{"nested-missing-required", `aws_cloudwatch_metric_alarm.a.metric_query.metric: required argument "period" is missing`},
		{"single-block-twice", "at most 1 tracing_config block allowed"},
		{"read-only-attribute-set", "arn is read-only"},
		{"undeclared-variable", "undeclared variable var.role_name"},
		{"undeclared-local", "undeclared local.role_name"},
		{"undeclared-resource", "undeclared resource aws_iam_role.missing"},
		{"undeclared-data-source", "undeclared data.aws_region.current"},
		{"unknown-resource-attribute", `aws_iam_role.r has no attribute "role_id"`},
		{"unknown-data-attribute", `data.aws_caller_identity.current has no attribute "account"`},
		{"undeclared-module", "undeclared module.engine"},
		{"unknown-module-output", `module.callee has no output "state_machine_arn"`},
		{"module-unknown-variable", `declares no variable "tag"`},
		{"module-missing-variable", `required variable "required_name" of ../modules/callee is not set`},
		{"module-argument-wrong-type", "module callee argument optional_tags must be map of string, not tuple"},
		{"variable-default-wrong-type", "variable grace_seconds default must be number, not string"},
		{"undeclared-provider", "provider configuration aws.member_b is not declared"},
		{"module-unknown-provider", "module callee: the module receives no provider configuration aws.member"},
		{"dependency-cycle", "dependency cycle, each refers to the next: aws_iam_role.r -> local.functions -> aws_kms_key.k -> aws_iam_role.r"},
		{"moved-to-undeclared", "moved to aws_iam_role.missing, which the module does not declare"},
		{"moved-from-declared", "moved from aws_iam_role.r, which the module still declares"},
		{"moved-across-types", "a resource moves to a resource of its type"},
		{"module-missing-provider-alias", "module aliased: the module declares configuration_aliases aws.member, which the call must pass in providers"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			r, _, err := CheckDirs(context.Background(), root, []string{filepath.Join(base, tt.fixture)})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				for _, p := range r.Problems {
					t.Errorf("unexpected problem: %s", p)
				}
				if r.Resources == 0 || r.Arguments == 0 {
					t.Error("nothing was checked")
				}
				return
			}
			if len(r.Problems) != 1 || !strings.Contains(r.Problems[0].Msg, tt.want) {
				t.Errorf("got %v, want exactly one problem containing %q", r.Problems, tt.want)
			}
		})
	}
	// Every fixture is in the table.
	for _, d := range fixtureDirs(t, base) {
		found := false
		for _, tt := range tests {
			found = found || filepath.Join(base, tt.fixture) == d
		}
		if !found {
			t.Errorf("fixture %s has no test case", d)
		}
	}
}
