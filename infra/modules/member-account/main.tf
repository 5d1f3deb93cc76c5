# One member (spoke) account of a keyrotor organization: the role the hub engine's functions
# assume here, and the KMS key that seals new secrets and encrypts the parameters. The user,
# its keys, the parameter and its lock all live in this account, next to their consumers.
# Deploy it with a provider for this account in the engine's region: the functions call this
# account's SSM and KMS in their own region.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id

  # Fixed names the engine's functions use (internal/rotation: TargetRoleName, TargetRolePath,
  # MemberKMSKeyAlias): every member account has the same role and key alias.
  target_role_name = "keyrotor-target"
  target_role_path = "/keyrotor/"

  # The hub's functions (the engine module names their roles <engine_name>-<function>, path /),
  # and its rotation state machine, whose execution ARN the seal's encryption context carries.
  hub_functions      = ["createkey", "storeparam", "verifykey", "deleteoldkeys", "trigger", "listusers"]
  state_machine_name = "${var.engine_name}-rotate"

  # The variables the target policy and the member key policy share.
  policy_vars = {
    partition          = local.partition
    region             = local.region
    account_id         = local.account_id
    hub_account_id     = var.hub_account_id
    parameter_prefix   = var.parameter_prefix
    state_machine_name = local.state_machine_name
  }
  # The member key policy's variables but the target role's ARN, and the policy with that ARN as
  # IAM forms it, known at plan for the size check (aws_kms_key.member).
  # The target role is the seal's, the store's and the verification's principal: its sessions
  # are told apart by their keyrotor:function tag (session_tags).
  key_policy_vars = merge(local.policy_vars, {
    session_tags          = true
    reader_arns           = module.inputs.reader_arns
    reader_parameter_arns = module.inputs.reader_parameter_arns
  })
  trust_policy = templatefile("${path.module}/policies/trust.json.tftpl", {
    partition      = local.partition
    hub_account_id = var.hub_account_id
    engine_name    = var.engine_name
    hub_functions  = local.hub_functions
    external_id    = var.external_id
  })
  target_role_arn_planned = "arn:${local.partition}:iam::${local.account_id}:role${local.target_role_path}${local.target_role_name}"
  key_policy_planned = templatefile("${path.module}/../../policies/rotation-key.json.tftpl", merge(local.key_policy_vars, {
    createkey_role_arn  = local.target_role_arn_planned
    storeparam_role_arn = local.target_role_arn_planned
    verifykey_role_arn  = local.target_role_arn_planned
  }))
}

# The inputs the engine takes too, validated once; the key policy's reader grants.
module "inputs" {
  source = "../inputs"

  engine_name              = var.engine_name
  partition                = local.partition
  region                   = local.region
  account_id               = local.account_id
  parameter_prefix         = var.parameter_prefix
  managed_user_path        = var.managed_user_path
  parameter_readers        = var.parameter_readers
  kms_deletion_window_days = var.kms_deletion_window_days
  external_id              = var.external_id
}

# ---- The target role: assumed by the hub's function roles only, with the external id ----

resource "aws_iam_role" "target" {
  name        = local.target_role_name
  path        = local.target_role_path
  description = "keyrotor: the hub engine ${var.engine_name} in ${var.hub_account_id} rotates this account's managed users' keys through this role"
  # The principal is the hub account, narrowed by aws:PrincipalArn to the engine's function
  # roles, rather than the roles themselves: IAM stores a role principal as the role's unique
  # id, so a trust policy naming the roles would need them to exist first and would stop
  # matching once one is re-created (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-roles);
  # aws:PrincipalArn of a role session is the role's ARN
  # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn).
  # sts:ExternalId must equal the engine's member_external_id
  # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#ck_externalid,
  # https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_common-scenarios_third-party.html).
  # Each hub function tags its session keyrotor:function=<its name> (sts:TagSession), and only
  # with its own: aws:PrincipalArn must be the role named after the tag's value (a policy
  # variable in a string condition, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html;
  # session tags: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html). The
  # member key and the policy below grant the seal's Decrypt to the storeparam session only.
  assume_role_policy = local.trust_policy
  tags               = var.tags

  lifecycle {
    # IAM's role trust policy length, 2,048 characters without white space by default (4,096 on
    # request; https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html):
    # external_id may be 1,224 characters, which with the longest engine_name renders ~2,170.
    precondition {
      condition     = length(replace(local.trust_policy, "/\\s+/", "")) <= 2048
      error_message = "external_id: the target role's trust policy would hold ${length(replace(local.trust_policy, "/\\s+/", ""))} characters, above IAM's 2,048 for a role trust policy. Use a shorter external_id (a few dozen characters is plenty)."
    }
  }
}

# What the hub's functions do in this account (internal/rotation/account.go lists the calls):
# the managed users' keys, parameters under the prefix, the member key. No Step Functions:
# the hub checks its own executions with its own roles.
resource "aws_iam_role_policy" "target" {
  name = local.target_role_name
  role = aws_iam_role.target.id
  policy = templatefile("${path.module}/policies/target.json.tftpl", merge(local.policy_vars, {
    user_path   = var.managed_user_path
    kms_key_arn = aws_kms_key.member.arn
  }))
}

# ---- The member key: seals new secrets between steps and encrypts the parameters ----

resource "aws_kms_key" "member" {
  description             = "keyrotor member of ${var.engine_name} (${var.hub_account_id}): seals new secrets between steps and encrypts rotated SecureString parameters"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  # The target role uses the key directly only for the seal (encryption context user,
  # accessKeyId and the hub's execution), and otherwise through SSM for parameters under the
  # prefix: kms:ViaService (https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service)
  # and PARAMETER_ARN, the encryption context SSM sends
  # (https://docs.aws.amazon.com/kms/latest/developerguide/services-parameter-store.html;
  # kms:EncryptionContext: https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-encryption-context).
  # One statement per (reader, parameter), as the engine's key.
  policy = templatefile("${path.module}/../../policies/rotation-key.json.tftpl", merge(local.key_policy_vars, {
    createkey_role_arn  = aws_iam_role.target.arn
    storeparam_role_arn = aws_iam_role.target.arn
    verifykey_role_arn  = aws_iam_role.target.arn
  }))
  tags = var.tags

  lifecycle {
    # KMS's 32,768-byte key policy limit (https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html),
    # checked at plan on the policy as it will render, as the engine's key.
    precondition {
      condition     = length(local.key_policy_planned) <= 32768
      error_message = "parameter_readers: the member key policy would hold ${length(local.key_policy_planned)} bytes with ${length(module.inputs.reader_arns)} (role, parameter) statements, above KMS's 32,768: about 60 fit. Give several consumers one role, or read fewer parameters per role."
    }
    # Standard-tier parameters are not shared across accounts
    # (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-shared-parameters.html).
    precondition {
      condition     = module.inputs.readers_in_account
      error_message = "parameter_readers must be roles of this member account ${local.account_id}: keyrotor's parameters are Standard-tier, which AWS does not share across accounts."
    }
  }
}

resource "aws_kms_alias" "member" {
  name          = "alias/keyrotor-member"
  target_key_id = aws_kms_key.member.key_id
}
