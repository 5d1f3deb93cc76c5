package infracheck

import (
	"os"
	"path/filepath"
	"testing"
)

// seededDefects are the ten defects bench/setup-notes.md seeded in a copy of the engine module
// to see which Terraform check catches each (tflint alone caught the first seven, tfsec alone the last four),
// each as a file added to the copy, so that they apply to any shape of the module.
var seededDefects = []struct {
	name, seed, rule string
}{
	{"variable without type", "variable \"seeded\" {\n  description = \"x\"\n}\nlocals {\n  seeded_use = var.seeded\n}\n", "terraform_typed_variables"},
	{"variable without description", "variable \"seeded\" {\n  type = string\n}\nlocals {\n  seeded_use = var.seeded\n}\n", "terraform_documented_variables"},
	{"output without description", "output \"seeded\" {\n  value = 1\n}\n", "terraform_documented_outputs"},
	{"unused variable", "variable \"seeded_unused\" {\n  type        = string\n  description = \"x\"\n  default     = \"\"\n}\n", "terraform_unused_declarations"},
	{"interpolation-only expression", "output \"seeded\" {\n  description = \"x\"\n  value       = \"${var.name}\"\n}\n", "terraform_deprecated_interpolation"},
	{"resource name not snake_case", "resource \"aws_cloudwatch_log_group\" \"SeededGroup\" {\n  name       = \"seeded\"\n  kms_key_id = aws_kms_key.observability.arn\n}\n", "terraform_naming_convention"},
	{"// comment", "// seeded\n", "terraform_comment_syntax"},
	{"inline policy allowing * on *", "resource \"aws_iam_role\" \"seeded\" {\n  name               = \"seeded\"\n  assume_role_policy = \"{}\"\n}\nresource \"aws_iam_role_policy\" \"seeded\" {\n  role   = aws_iam_role.seeded.id\n  policy = jsonencode({ Version = \"2012-10-17\", Statement = [{ Effect = \"Allow\", Action = \"*\", Resource = \"*\" }] })\n}\n", "aws-iam-no-policy-wildcards"},
	{"alert topic without KMS key", "resource \"aws_sns_topic\" \"seeded_alerts\" {\n  name = \"seeded\"\n}\n", "aws-sns-enable-topic-encryption"},
	{"KMS key rotation off", "resource \"aws_kms_key\" \"seeded\" {\n  description         = \"seeded\"\n  enable_key_rotation = false\n}\n", "aws-kms-auto-rotate-keys"},
	{"log group without KMS key", "resource \"aws_cloudwatch_log_group\" \"seeded\" {\n  name = \"seeded\"\n}\n", "aws-cloudwatch-log-group-customer-key"},
}

// copyModule copies a module directory (its .tf files and policy templates) to a new one.
func copyModule(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// Without tflint and tfsec in make test, each defect they alone caught must be caught here.
func TestTheSeededDefectsTflintAndTfsecCaughtAreCaught(t *testing.T) {
	root, _ := load(t)
	rules := append(append([]Rule{}, StyleRules...), SecurityRules...)
	for _, d := range seededDefects {
		t.Run(d.name, func(t *testing.T) {
			dir := copyModule(t, filepath.Join(root, engineDir))
			if err := os.WriteFile(filepath.Join(dir, "seeded.tf"), []byte(d.seed), 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := LoadModule(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range Lint(map[string]*Module{"seeded": m}, rules) {
				if f.Rule == d.rule && filepath.Base(f.Range.Filename) == "seeded.tf" {
					t.Logf("caught: %s", f)
					return
				}
			}
			t.Errorf("%s was not caught by %s", d.name, d.rule)
		})
	}
}
