# One engine (the hub, this configuration's default provider) rotates a managed user in each of
# two member accounts. Each member is the local module ./member: the keyrotor-target role and
# the member key (modules/member-account), the user (created with the member's provider), its
# managed key, and a consumer role that reads the user's key. The key, its parameter and its
# lock never exist in the hub.

data "aws_caller_identity" "hub" {}

module "engine" {
  source = "../../modules/engine"

  name               = var.engine_name
  build_dir          = "${path.root}/../../../build"
  member_account_ids = values(var.member_account_ids)
  member_external_id = var.external_id
}

locals {
  # The engine as every member sees it; user_path is its managed_user_path (the default).
  engine = {
    name                  = var.engine_name
    hub_account_id        = data.aws_caller_identity.hub.account_id
    external_id           = var.external_id
    state_machine_arn     = module.engine.state_machine_arn
    trigger_function_name = module.engine.trigger_function_name
    parameter_prefix      = module.engine.parameter_prefix
    user_path             = "/keyrotor/"
    rotation_schedule     = var.rotation_schedule
    min_grace_seconds     = module.engine.min_grace_seconds
    min_inactive_seconds  = module.engine.min_inactive_seconds
  }

  # Each member: its account, the user the hub rotates there and the role that reads its key.
  # A module call takes its providers from the configuration, not from data, so each member is
  # one call below with its own provider.
  members = {
    member_a = { account_id = var.member_account_ids.member_a, user_name = "reports-exporter", consumer_role_name = "keyrotor-example-reports-consumer" }
    member_b = { account_id = var.member_account_ids.member_b, user_name = "s3-signer", consumer_role_name = "keyrotor-example-signer-consumer" }
  }
  # The member calls, by the keys of local.members, for the outputs.
  member_modules = { member_a = module.member_a, member_b = module.member_b }
}

module "member_a" {
  source    = "./member"
  providers = { aws = aws, aws.member = aws.member_a }

  member = local.members.member_a
  engine = local.engine
}

module "member_b" {
  source    = "./member"
  providers = { aws = aws, aws.member = aws.member_b }

  member = local.members.member_b
  engine = local.engine
}
