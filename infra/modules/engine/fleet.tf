# ---- The fleet bucket: the fleet's users object and its Distributed Map's report ----
# listusers writes the managed users to fleet/<execution>/users.json, the fleet's Map reads
# them (ItemReader) and writes every rotation's outcome under fleet/<execution>/report/
# (ResultWriter). Private, encrypted, and expired: a report names users and errors, nothing
# secret, and is of no use once read.

locals {
  # S3 bucket names are lowercase (var.name's validation keeps the rest within S3's rules).
  fleet_bucket_name = "${lower(var.name)}-fleet-${local.account_id}-${local.region}"
  # Days after which the fleet's objects are deleted.
  fleet_object_days = 30
}

resource "aws_s3_bucket" "fleet" {
  bucket        = local.fleet_bucket_name
  force_destroy = true
}

resource "aws_s3_bucket_public_access_block" "fleet" {
  bucket                  = aws_s3_bucket.fleet.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "fleet" {
  bucket = aws_s3_bucket.fleet.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# SSE-S3, not a customer managed key: the bucket holds user names and error texts, nothing
# secret, and a KMS key would add kms:GenerateDataKey/Decrypt to the fleet role and listusers.
#tfsec:ignore:aws-s3-encryption-customer-key
resource "aws_s3_bucket_server_side_encryption_configuration" "fleet" {
  bucket = aws_s3_bucket.fleet.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "fleet" {
  bucket = aws_s3_bucket.fleet.id
  rule {
    id     = "expire-fleet-runs"
    status = "Enabled"
    filter {
      prefix = "fleet/"
    }
    expiration {
      days = local.fleet_object_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# Only TLS requests reach the bucket, and the fleet's items (each users object, read by the
# Distributed Map's ItemReader as rotation inputs) are the listing's own: nobody but the
# listusers role may write or delete them (issue 24, finding 7). An explicit Deny in a bucket
# policy overrides any Allow in an identity policy of the account
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
resource "aws_s3_bucket_policy" "fleet" {
  bucket = aws_s3_bucket.fleet.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.fleet.arn, "${aws_s3_bucket.fleet.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
      }, {
      Sid       = "OnlyTheListingWritesItems"
      Effect    = "Deny"
      Principal = "*"
      Action    = ["s3:PutObject", "s3:DeleteObject"]
      Resource  = "${aws_s3_bucket.fleet.arn}/fleet/*/users.json"
      Condition = { ArnNotEquals = { "aws:PrincipalArn" = aws_iam_role.function["listusers"].arn } }
    }]
  })
  depends_on = [aws_s3_bucket_public_access_block.fleet]
}
