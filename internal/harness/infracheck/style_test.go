package infracheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// baseModule is a module every style rule passes; a case adds or replaces its files.
var baseModule = map[string]string{
	"versions.tf": `terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}
`,
	"variables.tf": `variable "name" {
  type        = string
  description = "Name of the queue."
}
`,
	"main.tf": `resource "aws_sqs_queue" "this" {
  name              = var.name
  kms_master_key_id = "alias/keyrotor"
}
`,
	"outputs.tf": `output "arn" {
  description = "ARN of the queue."
  value       = aws_sqs_queue.this.arn
}
`,
}

// seedModule writes baseModule with files replaced (an empty text deletes the file) into a
// temporary directory and parses it.
func seedModule(t *testing.T, files map[string]string) *Module {
	t.Helper()
	dir := t.TempDir()
	all := map[string]string{}
	for name, text := range baseModule {
		all[name] = text
	}
	for name, text := range files {
		all[name] = text
	}
	for name, text := range all {
		if text == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := LoadModule(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type lintCase struct {
	name  string
	files map[string]string
	rule  string // the rule that must report it
	want  string // what its message must say (how to fix it)
}

// checkCases asserts that each case's defect is reported by its rule, with its fix, and that
// the untouched base module passes every rule.
func checkCases(t *testing.T, rules []Rule, cases []lintCase) {
	t.Helper()
	base := seedModule(t, nil)
	if got := Lint(map[string]*Module{"base": base}, rules); len(got) != 0 {
		t.Fatalf("the base module has findings: %v", got)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := seedModule(t, tc.files)
			findings := Lint(map[string]*Module{"seeded": m}, rules)
			for _, f := range findings {
				if f.Rule == tc.rule && strings.Contains(f.Message, tc.want) {
					return
				}
			}
			t.Errorf("%s did not report %q; findings: %v", tc.rule, tc.want, findings)
		})
	}
}

func TestStyleRulesReportEachSeededDefectWithItsFix(t *testing.T) {
	main := func(extra string) map[string]string {
		return map[string]string{"main.tf": baseModule["main.tf"] + extra}
	}
	checkCases(t, StyleRules, []lintCase{
		{"slash comment", main("// a comment\n"), "terraform_comment_syntax", "write # here"},
		{"legacy index", main("locals {\n  first = var.name.0\n}\noutput \"x\" {\n  description = \"x\"\n  value       = local.first\n}\n"), "terraform_deprecated_index", "write [0]"},
		{"legacy splat", main("locals {\n  all = aws_sqs_queue.this.*.arn\n}\n"), "terraform_deprecated_index", "write [*]"},
		{"interpolation only", main("locals {\n  n = \"${var.name}\"\n}\n"), "terraform_deprecated_interpolation", "write var.name without"},
		{"two-argument lookup", main("locals {\n  n = lookup(var.tags, \"a\")\n}\n"), "terraform_deprecated_lookup", "write var.tags[\"a\"]"},
		{"output without description", map[string]string{"outputs.tf": "output \"arn\" {\n  value = aws_sqs_queue.this.arn\n}\n"}, "terraform_documented_outputs", "add description"},
		{"variable with empty description", map[string]string{"variables.tf": "variable \"name\" {\n  type        = string\n  description = \"\"\n}\n"}, "terraform_documented_variables", "add description"},
		{"empty list equality", main("locals {\n  none = var.name == []\n}\n"), "terraform_empty_list_equality", "write length(var.name) == 0"},
		{"JSON at root array", map[string]string{"extra.tf.json": `[{"locals": {"a": 1}}]`}, "terraform_json_syntax", "write one object"},
		{"duplicate map key", main("locals {\n  m = { a = 1, a = 2 }\n}\n"), "terraform_map_duplicate_keys", `duplicate key "a"`},
		{"git module unpinned", main("module \"m\" {\n  source = \"git::https://example.com/m.git\"\n}\n"), "terraform_module_pinned_source", "add ?ref="},
		{"git module on main", main("module \"m\" {\n  source = \"git::https://example.com/m.git?ref=main\"\n}\n"), "terraform_module_pinned_source", "pin a tag or commit"},
		{"git module by tag, deep clone", main("module \"m\" {\n  source = \"git::https://example.com/m.git?ref=v1.2.0\"\n}\n"), "terraform_module_shallow_clone", "add depth=1"},
		{"registry module without version", main("module \"vpc\" {\n  source = \"terraform-aws-modules/vpc/aws\"\n}\n"), "terraform_module_version", "add version"},
		{"resource not snake_case", map[string]string{"main.tf": strings.Replace(baseModule["main.tf"], `"this"`, `"ThisQueue"`, 1), "outputs.tf": strings.Replace(baseModule["outputs.tf"], ".this.", ".ThisQueue.", 1)}, "terraform_naming_convention", "must be snake_case"},
		{"local not snake_case", main("locals {\n  queueName = var.name\n}\n"), "terraform_naming_convention", `local value name "queueName"`},
		{"provider sets its version", main("provider \"aws\" {\n  version = \"6.0\"\n}\n"), "terraform_required_providers", "constrain it in terraform { required_providers }"},
		{"provider not required", main("resource \"random_id\" \"x\" {\n  byte_length = 4\n}\n"), "terraform_required_providers", `provider "random" has no version constraint`},
		{"legacy provider constraint", map[string]string{"versions.tf": "terraform {\n  required_version = \">= 1.5\"\n  required_providers {\n    aws = \"~> 6.0\"\n  }\n}\n"}, "terraform_required_providers", "legacy version constraint"},
		{"no required_version", map[string]string{"versions.tf": strings.Replace(baseModule["versions.tf"], "  required_version = \">= 1.5\"\n", "", 1)}, "terraform_required_version", "add one"},
		{"no main.tf", map[string]string{"main.tf": "", "queue.tf": baseModule["main.tf"]}, "terraform_standard_module_structure", "no main.tf"},
		{"variable outside variables.tf", main("variable \"extra\" {\n  type        = string\n  description = \"x\"\n  default     = \"\"\n}\nlocals {\n  e = var.extra\n}\noutput \"e\" {\n  description = \"e\"\n  value       = local.e\n}\n"), "terraform_standard_module_structure", "move it to variables.tf"},
		{"untyped variable", map[string]string{"variables.tf": "variable \"name\" {\n  description = \"Name of the queue.\"\n}\n"}, "terraform_typed_variables", "add type"},
		{"unused variable", map[string]string{"variables.tf": baseModule["variables.tf"] + "variable \"spare\" {\n  type        = string\n  description = \"x\"\n}\n"}, "terraform_unused_declarations", `variable "spare" is declared but not used`},
		{"variable used only by its own validation", map[string]string{"variables.tf": baseModule["variables.tf"] + "variable \"spare\" {\n  type        = string\n  description = \"x\"\n  validation {\n    condition     = var.spare != \"\"\n    error_message = \"x\"\n  }\n}\n"}, "terraform_unused_declarations", `variable "spare" is declared but not used`},
		{"unused local", main("locals {\n  spare = 1\n}\n"), "terraform_unused_declarations", "local.spare is declared but not used"},
		{"unused data source", main("data \"aws_region\" \"current\" {}\n"), "terraform_unused_declarations", `data "aws_region.current" is declared but not used`},
		{"unused required provider", map[string]string{"versions.tf": strings.Replace(baseModule["versions.tf"], "    aws = {", "    random = {\n      source  = \"hashicorp/random\"\n      version = \"~> 3.0\"\n    }\n    aws = {", 1)}, "terraform_unused_required_providers", `provider "random" is in required_providers`},
		{"workspace with remote backend", map[string]string{"versions.tf": strings.Replace(baseModule["versions.tf"], "terraform {\n", "terraform {\n  backend \"remote\" {}\n", 1), "main.tf": strings.Replace(baseModule["main.tf"], "var.name", "\"${var.name}-${terraform.workspace}\"", 1)}, "terraform_workspace_remote", "use a variable"},
	})
}

// tflint's annotations keep working: an ignore on the line above silences that rule there only.
func TestTflintIgnoreAnnotationSilencesOnlyItsRule(t *testing.T) {
	tests := []struct {
		name, annotation string
		wantUnused       bool
	}{
		{"no annotation", "", true},
		{"its rule", "# tflint-ignore: terraform_unused_declarations\n", false},
		{"all rules", "# tflint-ignore: all\n", false},
		{"another rule", "# tflint-ignore: terraform_typed_variables\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := seedModule(t, map[string]string{"variables.tf": baseModule["variables.tf"] + tt.annotation + "variable \"spare\" {\n  type        = string\n  description = \"x\"\n}\n"})
			got := Lint(map[string]*Module{"m": m}, StyleRules)
			if (len(got) == 1) != tt.wantUnused || len(got) > 1 {
				t.Errorf("findings %v, want the unused variable reported: %v", got, tt.wantUnused)
			}
		})
	}
}
