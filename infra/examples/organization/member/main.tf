# One member account of the organization example: the keyrotor-target role and the member key
# (modules/member-account), the user (created with the member's provider, aws.member), its
# managed key (rotated by the hub: modules/managed-key with the hub's provider, aws), and a
# consumer role that reads the user's key. The key, its parameter and its lock never exist in
# the hub.

locals {
  parameter_name = "${var.engine.parameter_prefix}${var.member.user_name}"
}

module "account" {
  source    = "../../../modules/member-account"
  providers = { aws = aws.member }

  hub_account_id    = var.engine.hub_account_id
  engine_name       = var.engine.name
  external_id       = var.engine.external_id
  parameter_readers = { (aws_iam_role.consumer.arn) = [local.parameter_name] }
}

resource "aws_iam_user" "this" {
  provider = aws.member

  name = var.member.user_name
  path = var.engine.user_path
  # The user's tags keyrotor reads (modules/managed-key sets the same on users it creates).
  tags = {
    "keyrotor:managed"   = "true"
    "keyrotor:parameter" = local.parameter_name
    "keyrotor:format"    = "json"
  }
}

module "key" {
  source = "../../../modules/managed-key"

  user_name             = aws_iam_user.this.name
  create_user           = false
  account_id            = var.member.account_id
  state_machine_arn     = var.engine.state_machine_arn
  trigger_function_name = var.engine.trigger_function_name
  parameter_prefix      = var.engine.parameter_prefix
  schedule_expression   = var.engine.rotation_schedule
  min_grace_seconds     = var.engine.min_grace_seconds
  min_inactive_seconds  = var.engine.min_inactive_seconds

  # The target role and key must exist before the first rotation, and stay until the last
  # destroy has removed the keys and the parameter.
  depends_on = [module.account]
}

resource "aws_iam_role" "consumer" {
  provider = aws.member

  name = var.member.consumer_role_name
  assume_role_policy = templatefile("${path.module}/../../../policies/service-trust.json.tftpl", {
    service    = "lambda"
    account_id = var.member.account_id
  })
}

resource "aws_iam_role_policy" "consumer" {
  provider = aws.member

  name = "read-${var.member.user_name}-key"
  role = aws_iam_role.consumer.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "ReadKey", Effect = "Allow", Action = "ssm:GetParameter", Resource = module.key.parameter_arn },
      {
        Sid       = "DecryptKey"
        Effect    = "Allow"
        Action    = "kms:Decrypt"
        Resource  = module.account.kms_key_arn
        Condition = { StringEquals = { "kms:EncryptionContext:PARAMETER_ARN" = module.key.parameter_arn } }
      },
    ]
  })
}
