package infracheck

import (
	"strings"
	"testing"
)

const bucket = `resource "aws_s3_bucket" "b" {
  bucket = var.name
}
`

const bucketBlock = `resource "aws_s3_bucket_public_access_block" "b" {
  bucket                  = aws_s3_bucket.b.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}
`

const bucketEncryption = `resource "aws_s3_bucket_server_side_encryption_configuration" "b" {
  bucket = aws_s3_bucket.b.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = "alias/keyrotor"
    }
  }
}
`

func rolePolicy(statement string) string {
	return `resource "aws_iam_role" "r" {
  name               = var.name
  assume_role_policy = "{}"
}
resource "aws_iam_role_policy" "p" {
  role   = aws_iam_role.r.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [` + statement + `]
  })
}
`
}

func TestSecurityRulesReportEachSeededDefectWithItsFix(t *testing.T) {
	if err := IAMDataError(); err != nil {
		t.Fatal(err)
	}
	main := func(extra string) map[string]string {
		return map[string]string{"main.tf": baseModule["main.tf"] + extra}
	}
	checkCases(t, SecurityRules, []lintCase{
		{"action * on *", main(rolePolicy(`{ Effect = "Allow", Action = "*", Resource = "*" }`)), "aws-iam-no-policy-wildcards", `wildcard action "*": list the actions`},
		{"service wildcard action", main(rolePolicy(`{ Effect = "Allow", Action = "s3:*", Resource = "arn:aws:s3:::b/*" }`)), "aws-iam-no-policy-wildcards", `wildcard action "s3:*"`},
		{"resource * for an action that names resources", main(rolePolicy(`{ Effect = "Allow", Action = ["iam:CreateAccessKey"], Resource = "*" }`)), "aws-iam-no-policy-wildcards", `iam:CreateAccessKey on the wildcard resource "*"`},
		{"service-wide resource", main(rolePolicy(`{ Effect = "Allow", Action = "s3:GetObject", Resource = "arn:aws:s3:::*" }`)), "aws-iam-no-policy-wildcards", "name the resources"},
		{"wildcard principal", main(rolePolicy(`{ Effect = "Allow", Action = "sts:AssumeRole", Resource = "arn:aws:iam::111122223333:role/x", Principal = { AWS = "*" } }`)), "aws-iam-no-policy-wildcards", "wildcard principal"},
		{"templated policy with *", map[string]string{"main.tf": baseModule["main.tf"] + strings.Replace(rolePolicy(""), `jsonencode({
    Version   = "2012-10-17"
    Statement = []
  })`, `templatefile("${path.module}/p.json.tftpl", { arn = aws_iam_role.r.arn })`, 1), "p.json.tftpl": `{"Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "${arn}"}]}`}, "aws-iam-no-policy-wildcards", `wildcard action "iam:*"`},
		{"second of per-key templated policies", map[string]string{"main.tf": baseModule["main.tf"] + `resource "aws_iam_role" "r" {
  for_each           = { a = 1, b = 2 }
  name               = each.key
  assume_role_policy = "{}"
}
resource "aws_iam_role_policy" "p" {
  for_each = { a = 1, b = 2 }
  role     = aws_iam_role.r[each.key].id
  policy   = templatefile("${path.module}/${each.key}.json.tftpl", {})
}
`, "a.json.tftpl": `{"Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]}`, "b.json.tftpl": `{"Statement": [{"Effect": "Allow", "Action": "ssm:*", "Resource": "*"}]}`}, "aws-iam-no-policy-wildcards", `wildcard action "ssm:*"`},
		{"map of policies indexed by each.key", main(`locals {
  policies = {
    a = jsonencode({ Statement = [{ Effect = "Allow", Action = "sts:GetCallerIdentity", Resource = "*" }] })
    b = jsonencode({ Statement = [{ Effect = "Allow", Action = "kms:*", Resource = "*" }] })
  }
}
resource "aws_iam_role_policy" "p" {
  for_each = local.policies
  role     = each.key
  policy   = local.policies[each.key]
}
`), "aws-iam-no-policy-wildcards", `wildcard action "kms:*"`},
		{"policy document data source", main(`data "aws_iam_policy_document" "d" {
  statement {
    actions   = ["kms:*"]
    resources = ["*"]
  }
}
resource "aws_iam_policy" "p" {
  policy = data.aws_iam_policy_document.d.json
}
`), "aws-iam-no-policy-wildcards", `wildcard action "kms:*"`},
		{"bucket without public access block", main(bucket + bucketEncryption), "aws-s3-block-public-acls", "add an aws_s3_bucket_public_access_block with block_public_acls = true"},
		{"public policy not blocked", main(bucket + bucketEncryption + strings.Replace(bucketBlock, "block_public_policy     = true", "block_public_policy     = false", 1)), "aws-s3-block-public-policy", "set block_public_policy = true"},
		{"public ACLs not ignored", main(bucket + bucketEncryption + strings.Replace(bucketBlock, "  ignore_public_acls      = true\n", "", 1)), "aws-s3-ignore-public-acls", "set ignore_public_acls = true"},
		{"public buckets not restricted", main(bucket + bucketEncryption + strings.Replace(bucketBlock, "restrict_public_buckets = true", "restrict_public_buckets = false", 1)), "aws-s3-no-public-buckets", "set restrict_public_buckets = true"},
		{"bucket not encrypted", main(bucket + bucketBlock), "aws-s3-enable-bucket-encryption", "add a server-side encryption rule"},
		{"bucket with AWS's key", main(bucket + bucketBlock + strings.Replace(bucketEncryption, "      kms_master_key_id = \"alias/keyrotor\"\n", "", 1)), "aws-s3-encryption-customer-key", "set kms_master_key_id"},
		{"public-read ACL", main(bucket + bucketEncryption + strings.Replace(bucketBlock, "true", "false", -1) + "resource \"aws_s3_bucket_acl\" \"b\" {\n  bucket = aws_s3_bucket.b.id\n  acl    = \"public-read\"\n}\n"), "aws-s3-no-public-access-with-acl", `public ACL "public-read"`},
		{"topic without key", main("resource \"aws_sns_topic\" \"t\" {\n  name = var.name\n}\n"), "aws-sns-enable-topic-encryption", "set kms_master_key_id"},
		{"topic with AWS's key", main("resource \"aws_sns_topic\" \"t\" {\n  kms_master_key_id = \"alias/aws/sns\"\n}\n"), "aws-sns-topic-encryption-use-cmk", "customer managed key"},
		{"queue without encryption", map[string]string{"main.tf": "resource \"aws_sqs_queue\" \"this\" {\n  name = var.name\n}\n"}, "aws-sqs-enable-queue-encryption", "set kms_master_key_id"},
		{"queue with AWS's key", map[string]string{"main.tf": strings.Replace(baseModule["main.tf"], "alias/keyrotor", "alias/aws/sqs", 1)}, "aws-sqs-queue-encryption-use-cmk", "customer managed key"},
		{"queue policy allowing sqs:*", main("resource \"aws_sqs_queue_policy\" \"q\" {\n  queue_url = aws_sqs_queue.this.id\n  policy    = jsonencode({ Statement = [{ Effect = \"Allow\", Action = \"sqs:*\", Resource = aws_sqs_queue.this.arn }] })\n}\n"), "aws-sqs-no-wildcards-in-policy-documents", "list the SQS actions"},
		{"lambda permission without source", main("resource \"aws_lambda_permission\" \"p\" {\n  function_name = var.name\n  action        = \"lambda:InvokeFunction\"\n  principal     = \"events.amazonaws.com\"\n}\n"), "aws-lambda-restrict-source-arn", "set source_arn"},
		{"key rotation not set", main("resource \"aws_kms_key\" \"k\" {\n  description = \"k\"\n}\n"), "aws-kms-auto-rotate-keys", "set enable_key_rotation = true"},
		{"key rotation off", main("resource \"aws_kms_key\" \"k\" {\n  enable_key_rotation = false\n}\n"), "aws-kms-auto-rotate-keys", "set enable_key_rotation = true"},
		{"key rotation from a false default", map[string]string{"main.tf": baseModule["main.tf"] + "resource \"aws_kms_key\" \"k\" {\n  enable_key_rotation = var.rotate\n}\n", "variables.tf": baseModule["variables.tf"] + "variable \"rotate\" {\n  type        = bool\n  description = \"x\"\n  default     = false\n}\n"}, "aws-kms-auto-rotate-keys", "set enable_key_rotation = true"},
		{"bucket without logging", main(bucket + bucketBlock + bucketEncryption), "aws-s3-enable-bucket-logging", "add an aws_s3_bucket_logging"},
		{"bucket versioning suspended", main(bucket + bucketBlock + bucketEncryption + "resource \"aws_s3_bucket_versioning\" \"b\" {\n  bucket = aws_s3_bucket.b.id\n  versioning_configuration {\n    status = \"Suspended\"\n  }\n}\n"), "aws-s3-enable-versioning", "status Enabled"},
		{"bucket without any public access block", main(bucket + bucketEncryption), "aws-s3-specify-public-access-block", "add one blocking all public access"},
		{"log group without key", main("resource \"aws_cloudwatch_log_group\" \"l\" {\n  name = var.name\n}\n"), "aws-cloudwatch-log-group-customer-key", "set kms_key_id"},
		{"user with inline policy", main("resource \"aws_iam_user\" \"u\" {\n  name = var.name\n}\nresource \"aws_iam_user_policy\" \"p\" {\n  user   = aws_iam_user.u.name\n  policy = jsonencode({ Statement = [] })\n}\n"), "aws-iam-no-user-attached-policies", "through a group or role"},
		{"lambda without tracing", main("resource \"aws_lambda_function\" \"f\" {\n  function_name = var.name\n}\n"), "aws-lambda-enable-tracing", `mode = "Active"`},
	})
}

// What must not be reported: the wildcards keyrotor scopes with, actions that take only "*",
// keys and settings the caller passes, and tfsec's own ignore annotation.
func TestSecurityRulesLetScopedAndIgnoredConfigurationStand(t *testing.T) {
	tests := []struct {
		name  string
		extra string
	}{
		{"path-scoped resource", rolePolicy(`{ Effect = "Allow", Action = "iam:CreateAccessKey", Resource = "arn:aws:iam::111122223333:user/keyrotor/*" }`)},
		{"log stream wildcard", rolePolicy(`{ Effect = "Allow", Action = "logs:PutLogEvents", Resource = "${aws_iam_role.r.arn}:log-stream:*" }`)},
		{"action that takes only *", rolePolicy(`{ Effect = "Allow", Action = ["xray:PutTraceSegments", "sts:GetCallerIdentity"], Resource = "*" }`)},
		{"deny with wildcards", rolePolicy(`{ Effect = "Deny", Action = "*", Resource = "*" }`)},
		{"ignored with tfsec's annotation", strings.Replace(rolePolicy(`{ Effect = "Allow", Action = "iam:ListRoles", Resource = "*" }`), "  policy = ", "  # iam:ListRoles names no resource in this test\n  #tfsec:ignore:aws-iam-no-policy-wildcards\n  policy = ", 1)},
		{"key from the caller", "resource \"aws_sns_topic\" \"t\" {\n  kms_master_key_id = var.name\n}\n"},
		{"rotation on", "resource \"aws_kms_key\" \"k\" {\n  enable_key_rotation = true\n}\n"},
		{"signing key does not rotate", "resource \"aws_kms_key\" \"k\" {\n  key_usage = \"SIGN_VERIFY\"\n}\n"},
		{"queue with SQS-managed encryption", "resource \"aws_sqs_queue\" \"q\" {\n  sqs_managed_sse_enabled = true\n}\n"},
		{"lambda permission with source", "resource \"aws_lambda_permission\" \"p\" {\n  principal  = \"events.amazonaws.com\"\n  source_arn = var.name\n}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := seedModule(t, map[string]string{"main.tf": baseModule["main.tf"] + tt.extra})
			if got := Lint(map[string]*Module{"m": m}, SecurityRules); len(got) != 0 {
				t.Errorf("findings: %v", got)
			}
		})
	}
}
