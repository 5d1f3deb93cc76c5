data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  consumer_zip  = coalesce(var.consumer_zip, "${path.module}/../../../build/s3-signer-consumer.zip")
  consumer_name = "keyrotor-s3-signer-consumer"
}

# The signer: a user that may only read the bucket's objects. keyrotor manages its key.
resource "aws_iam_user" "signer" {
  name = var.signer_user_name
  path = "/keyrotor/" # the engine's managed_user_path
  tags = { "keyrotor:managed" = "true" }
}

resource "aws_iam_user_policy" "signer" {
  name = "read-objects"
  user = aws_iam_user.signer.name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "s3:GetObject"
      Resource = "arn:${data.aws_partition.current.partition}:s3:::${var.bucket_name}/*"
    }]
  })
}

module "engine" {
  source = "../../modules/engine"

  name                 = var.engine_name
  build_dir            = "${path.root}/../../../build"
  min_grace_seconds    = var.min_grace_seconds
  min_inactive_seconds = var.min_inactive_seconds
  # The consumer decrypts its own parameter only.
  parameter_readers = { (aws_iam_role.consumer.arn) = ["/keyrotor/${var.signer_user_name}"] }
}

module "signer_key" {
  source = "../../modules/managed-key"

  user_name             = aws_iam_user.signer.name
  create_user           = false
  state_machine_arn     = module.engine.state_machine_arn
  trigger_function_name = module.engine.trigger_function_name
  parameter_prefix      = module.engine.parameter_prefix
  schedule_expression   = var.rotation_schedule
  grace_seconds         = var.grace_seconds
  inactive_seconds      = var.inactive_seconds
  min_grace_seconds     = module.engine.min_grace_seconds
  min_inactive_seconds  = module.engine.min_inactive_seconds

  depends_on = [aws_iam_user_policy.signer]
}

# The consumer: a Lambda that reads the parameter at run time and presigns GET URLs.
resource "aws_iam_role" "consumer" {
  name = local.consumer_name
  # Lambda acting for this account only (infra/policies).
  assume_role_policy = templatefile("${path.module}/../../policies/service-trust.json.tftpl", {
    service    = "lambda"
    account_id = data.aws_caller_identity.current.account_id
  })
}

resource "aws_iam_role_policy" "consumer" {
  name = local.consumer_name
  role = aws_iam_role.consumer.id
  # Lambda names log streams at run time, so only the stream part of this one log group is a
  # wildcard (WriteOwnLogs); X-Ray's trace actions take no resource ("*", WriteTraces); every
  # other statement names its resource.
  #tfsec:ignore:aws-iam-no-policy-wildcards
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadSigningKey"
        Effect   = "Allow"
        Action   = "ssm:GetParameter"
        Resource = module.signer_key.parameter_arn
      },
      {
        Sid       = "DecryptSigningKey"
        Effect    = "Allow"
        Action    = "kms:Decrypt"
        Resource  = module.engine.kms_key_arn
        Condition = { StringEquals = { "kms:EncryptionContext:PARAMETER_ARN" = module.signer_key.parameter_arn } }
      },
      {
        Sid      = "WriteOwnLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${aws_cloudwatch_log_group.consumer.arn}:log-stream:*"
      },
      {
        # tracing_config Active: Lambda refuses CreateFunction unless the role may send traces.
        # The actions of AWS's AWSXRayDaemonWriteAccess that send them:
        # https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSXRayDaemonWriteAccess.html
        Sid      = "WriteTraces"
        Effect   = "Allow"
        Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
        Resource = "*"
      },
    ]
  })
}

resource "aws_cloudwatch_log_group" "consumer" {
  name              = "/aws/lambda/${local.consumer_name}"
  retention_in_days = 30
}

resource "aws_lambda_function" "consumer" {
  function_name    = local.consumer_name
  description      = "keyrotor example: presigns S3 GET URLs with the rotated signer key"
  role             = aws_iam_role.consumer.arn
  filename         = local.consumer_zip
  source_code_hash = filebase64sha256(local.consumer_zip)
  handler          = "bootstrap"
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  timeout          = 10

  environment {
    variables = {
      SIGNER_PARAMETER_NAME    = module.signer_key.parameter_name
      SIGNER_CACHE_TTL_SECONDS = tostring(var.signer_cache_ttl_seconds)
      SIGNER_URL_MAX_SECONDS   = tostring(var.url_max_expires_seconds)
    }
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.consumer.name
  }

  tracing_config {
    mode = "Active"
  }

  lifecycle {
    # Every URL signed with the old key must expire before that key is deactivated. The
    # consumer may still sign with the old key up to signer_cache_ttl_seconds after the new one
    # is stored (its cache), each URL lives up to url_max_expires_seconds, and the old key is
    # deactivated grace_seconds after the new one is verified (which follows the store).
    precondition {
      condition     = var.grace_seconds >= var.signer_cache_ttl_seconds + var.url_max_expires_seconds
      error_message = "grace_seconds (${var.grace_seconds}) must be at least signer_cache_ttl_seconds + url_max_expires_seconds (${var.signer_cache_ttl_seconds} + ${var.url_max_expires_seconds}): URLs signed with the old key late in the cache's life would break when it is deactivated."
    }
  }

  depends_on = [aws_iam_role_policy.consumer]
}
