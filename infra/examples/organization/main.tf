# One engine (the hub, this configuration's default provider) rotates a managed user in each of
# two member accounts. In each member: the keyrotor-target role and the member key
# (modules/member-account), the user (created here with the member's provider), and a consumer
# role that reads the user's key. The key, its parameter and its lock never exist in the hub.

data "aws_caller_identity" "hub" {}

locals {
  # The engine's managed_user_path and parameter_prefix (their defaults), in every member.
  user_path        = "/keyrotor/"
  parameter_prefix = "/keyrotor/"
  users = {
    member_a = "reports-exporter"
    member_b = "s3-signer"
  }
  # The user's tags keyrotor reads (modules/managed-key sets the same on users it creates).
  user_tags = { for k, name in local.users : k => {
    "keyrotor:managed"   = "true"
    "keyrotor:parameter" = "${local.parameter_prefix}${name}"
    "keyrotor:format"    = "json"
  } }
}

module "engine" {
  source = "../../modules/engine"

  name               = var.engine_name
  build_dir          = "${path.root}/../../../build"
  member_account_ids = [var.member_a_account_id, var.member_b_account_id]
  member_external_id = var.external_id
}

# ---- Member A ----

module "member_a" {
  source    = "../../modules/member-account"
  providers = { aws = aws.member_a }

  hub_account_id    = data.aws_caller_identity.hub.account_id
  engine_name       = var.engine_name
  external_id       = var.external_id
  parameter_readers = { (aws_iam_role.consumer_a.arn) = ["${local.parameter_prefix}${local.users.member_a}"] }
}

resource "aws_iam_user" "member_a" {
  provider = aws.member_a

  name = local.users.member_a
  path = local.user_path
  tags = local.user_tags.member_a
}

module "key_a" {
  source = "../../modules/managed-key"

  min_grace_seconds    = module.engine.min_grace_seconds
  min_inactive_seconds = module.engine.min_inactive_seconds

  user_name             = aws_iam_user.member_a.name
  create_user           = false
  account_id            = var.member_a_account_id
  state_machine_arn     = module.engine.state_machine_arn
  trigger_function_name = module.engine.trigger_function_name
  parameter_prefix      = module.engine.parameter_prefix
  schedule_expression   = var.rotation_schedule

  # The target role and key must exist before the first rotation, and stay until the last
  # destroy has removed the keys and the parameter.
  depends_on = [module.member_a]
}

resource "aws_iam_role" "consumer_a" {
  provider = aws.member_a

  name = "keyrotor-example-reports-consumer"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = var.member_a_account_id } }
    }]
  })
}

resource "aws_iam_role_policy" "consumer_a" {
  provider = aws.member_a

  name = "read-reports-exporter-key"
  role = aws_iam_role.consumer_a.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "ReadKey", Effect = "Allow", Action = "ssm:GetParameter", Resource = module.key_a.parameter_arn },
      {
        Sid       = "DecryptKey"
        Effect    = "Allow"
        Action    = "kms:Decrypt"
        Resource  = module.member_a.kms_key_arn
        Condition = { StringEquals = { "kms:EncryptionContext:PARAMETER_ARN" = module.key_a.parameter_arn } }
      },
    ]
  })
}

# ---- Member B ----

module "member_b" {
  source    = "../../modules/member-account"
  providers = { aws = aws.member_b }

  hub_account_id    = data.aws_caller_identity.hub.account_id
  engine_name       = var.engine_name
  external_id       = var.external_id
  parameter_readers = { (aws_iam_role.consumer_b.arn) = ["${local.parameter_prefix}${local.users.member_b}"] }
}

resource "aws_iam_user" "member_b" {
  provider = aws.member_b

  name = local.users.member_b
  path = local.user_path
  tags = local.user_tags.member_b
}

module "key_b" {
  source = "../../modules/managed-key"

  min_grace_seconds    = module.engine.min_grace_seconds
  min_inactive_seconds = module.engine.min_inactive_seconds

  user_name             = aws_iam_user.member_b.name
  create_user           = false
  account_id            = var.member_b_account_id
  state_machine_arn     = module.engine.state_machine_arn
  trigger_function_name = module.engine.trigger_function_name
  parameter_prefix      = module.engine.parameter_prefix
  schedule_expression   = var.rotation_schedule

  depends_on = [module.member_b]
}

resource "aws_iam_role" "consumer_b" {
  provider = aws.member_b

  name = "keyrotor-example-signer-consumer"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = var.member_b_account_id } }
    }]
  })
}

resource "aws_iam_role_policy" "consumer_b" {
  provider = aws.member_b

  name = "read-s3-signer-key"
  role = aws_iam_role.consumer_b.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "ReadKey", Effect = "Allow", Action = "ssm:GetParameter", Resource = module.key_b.parameter_arn },
      {
        Sid       = "DecryptKey"
        Effect    = "Allow"
        Action    = "kms:Decrypt"
        Resource  = module.member_b.kms_key_arn
        Condition = { StringEquals = { "kms:EncryptionContext:PARAMETER_ARN" = module.key_b.parameter_arn } }
      },
    ]
  })
}
