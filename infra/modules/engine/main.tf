data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  # hashicorp/aws 6 deprecates aws_region's name for region (provider schema 6.25.0:
  # @cdktf/provider-aws 21.22.1, lib/data-aws-region).
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id

  # The state machine's ARN is built from its name so that the trigger function (which the state
  # machine does not invoke) can know it without a dependency cycle.
  state_machine_name = "${var.name}-rotate"
  state_machine_arn  = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.state_machine_name}"

  # The engine's floors of every rotation's waits, for the functions whose actions hold them:
  # Begin refuses shorter waits, deactivate and delete measure them (internal/rotation).
  floors_environment = {
    KEYROTOR_MIN_GRACE_SECONDS    = tostring(var.min_grace_seconds)
    KEYROTOR_MIN_INACTIVE_SECONDS = tostring(var.min_inactive_seconds)
  }

  functions = {
    createkey = {
      description = "keyrotor: validate input, take the lock, create the new access key and seal its secret"
      timeout     = 60
      environment = local.floors_environment
    }
    storeparam = {
      description = "keyrotor: unseal the new secret and store it as a SecureString parameter; restore on rollback"
      timeout     = 60
      environment = {}
    }
    verifykey = {
      description = "keyrotor: read the parameter as a consumer does and verify the new key with STS"
      timeout     = 60
      environment = {}
    }
    deleteoldkeys = {
      description = "keyrotor: deactivate and delete old keys, roll back a new key, release the lock"
      timeout     = 60
      # Deactivate and delete hold the floors too (measured in the execution's history).
      environment = local.floors_environment
    }
    trigger = {
      description = "keyrotor: Terraform and CLI entry; start a rotation and wait until the key is verified, or remove the managed keys"
      timeout     = 900
      environment = { KEYROTOR_STATE_MACHINE_ARN = local.state_machine_arn }
    }
    listusers = {
      description = "keyrotor: list the IAM users tagged keyrotor:managed=true, one page per call, for the fleet state machine"
      timeout     = 60
      environment = { KEYROTOR_USER_PATH = var.managed_user_path, KEYROTOR_FLEET_BUCKET = local.fleet_bucket_name }
    }
  }
  step_functions = ["createkey", "storeparam", "verifykey", "deleteoldkeys"]
  # The functions that seal or store secrets get the secrets key (KEYROTOR_KMS_KEY_ID), outside
  # local.functions: the roles' for_each reads it, and the key's policy names those roles, so a
  # reference to the key there would be a cycle (terraform validate: "Cycle: aws_kms_key.secrets,
  # local.functions (expand), aws_iam_role.function").
  kms_functions = ["createkey", "storeparam"]

  # The variables the function policies and the secrets key policy share.
  policy_vars = {
    partition          = local.partition
    region             = local.region
    account_id         = local.account_id
    parameter_prefix   = var.parameter_prefix
    state_machine_name = local.state_machine_name
  }
  # Variables of every policies/<function>.json.tftpl; internal/deployed passes the same set.
  function_policy_vars = merge(local.policy_vars, {
    user_path        = var.managed_user_path
    kms_key_arn      = aws_kms_key.secrets.arn
    fleet_bucket_arn = aws_s3_bucket.fleet.arn
  })

  # The secrets key policy's variables but its role ARNs. One statement per (reader, parameter)
  # (module.inputs).
  # (module.inputs). The engine is its own hub, and each function has its own role
  # (session_tags false).
  key_policy_vars = merge(local.policy_vars, {
    hub_account_id        = local.account_id
    session_tags          = false
    reader_arns           = module.inputs.reader_arns
    reader_parameter_arns = module.inputs.reader_parameter_arns
  })
  # The same policy with the roles' ARNs as IAM forms them (path /), known at plan, so that its
  # size is checked before anything is created.
  key_policy_planned = templatefile("${path.module}/../../policies/rotation-key.json.tftpl", merge(local.key_policy_vars, {
    createkey_role_arn  = "arn:${local.partition}:iam::${local.account_id}:role/${var.name}-createkey"
    storeparam_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/${var.name}-storeparam"
    verifykey_role_arn  = "arn:${local.partition}:iam::${local.account_id}:role/${var.name}-verifykey"
  }))

  # Member accounts (issue 15): every function may assume the keyrotor-target role of each
  # listed account, and reads the list and the external id from its environment
  # (internal/rotation: EnvMemberAccounts, EnvTargetExternalID).
  member_environment = length(var.member_account_ids) == 0 ? {} : {
    KEYROTOR_MEMBER_ACCOUNTS    = join(",", var.member_account_ids)
    KEYROTOR_TARGET_EXTERNAL_ID = var.member_external_id
  }
  assume_target_roles = length(var.member_account_ids) == 0 ? {} : local.functions

  create_topic = var.alarm_topic_arn == null
  topic_arn    = local.create_topic ? one(aws_sns_topic.alerts[*].arn) : var.alarm_topic_arn
  traced_roles = var.tracing_enabled ? toset(concat(keys(local.functions), keys(local.state_machines))) : toset([])

  fleet_state_machine_name = "${var.name}-rotate-fleet"

  # The trust policy of each role a service assumes: that service, acting for this account's
  # resources only (aws:SourceAccount, against the confused deputy:
  # https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html; infra/policies).
  service_trust_policies = { for service in ["lambda", "states", "scheduler"] : service => templatefile("${path.module}/../../policies/service-trust.json.tftpl", {
    service    = service
    account_id = local.account_id
  }) }

  # Execution errors that raise no failure alert (aws_cloudwatch_event_rule.rotation_failed):
  # destroy's abort and Begin's rejections (statemachine/README.md, "Rollback paths").
  rejection_errors = ["InvalidInput", "UserNotFound", "UserNotManaged", "RotationInProgress"]
  unalerted_errors = concat(["keyrotor.Destroyed"], local.rejection_errors)
  # Step errors that are no fault of the engine and count in no errors alarm
  # (aws_cloudwatch_log_metric_filter.expected_errors): KeyNotYetValid, verifykey's answer while
  # IAM propagates a new key, and Begin's rejections (a fleet skipping busy users raises many).
  expected_step_errors = concat(["KeyNotYetValid"], local.rejection_errors)
}

# The inputs member-account takes too, validated once; the key policy's reader grants.
module "inputs" {
  source = "../inputs"

  engine_name              = var.name
  partition                = local.partition
  region                   = local.region
  account_id               = local.account_id
  parameter_prefix         = var.parameter_prefix
  managed_user_path        = var.managed_user_path
  parameter_readers        = var.parameter_readers
  kms_deletion_window_days = var.kms_deletion_window_days
  external_id              = var.member_external_id
}

# ---- KMS: one key for secrets (seal + SecureString), one for logs and alerts ----

resource "aws_kms_key" "secrets" {
  description             = "keyrotor ${var.name}: seals new secrets between steps and encrypts rotated SecureString parameters"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy = templatefile("${path.module}/../../policies/rotation-key.json.tftpl", merge(local.key_policy_vars, {
    createkey_role_arn  = aws_iam_role.function["createkey"].arn
    storeparam_role_arn = aws_iam_role.function["storeparam"].arn
    verifykey_role_arn  = aws_iam_role.function["verifykey"].arn
  }))
  tags = var.tags

  lifecycle {
    # A key policy holds at most 32,768 bytes (https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html);
    # checked at plan on the policy as it will render (internal/harness/infracheck: kms_test.go).
    precondition {
      condition     = length(local.key_policy_planned) <= 32768
      error_message = "parameter_readers: the engine's KMS key policy would hold ${length(local.key_policy_planned)} bytes with ${length(module.inputs.reader_arns)} (role, parameter) statements, above KMS's 32,768: each statement costs about 500 bytes, so about 60 fit. Give several consumers one role, or read fewer parameters per role."
    }
    # A Standard-tier parameter cannot be shared with another account
    # (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-shared-parameters.html:
    # only advanced-tier parameters can be shared), so a reader of another account could never
    # read it, and granting its role this key would only widen the policy.
    precondition {
      condition     = module.inputs.readers_in_account
      error_message = "parameter_readers must be roles of the engine's account ${local.account_id}: keyrotor's parameters are Standard-tier, which AWS does not share across accounts. Rotate a member account's users with infra/modules/member-account, whose parameter_readers grant that account's roles."
    }
  }
}

resource "aws_kms_alias" "secrets" {
  name          = "alias/${var.name}-secrets"
  target_key_id = aws_kms_key.secrets.key_id
}

resource "aws_kms_key" "observability" {
  description             = "keyrotor ${var.name}: encrypts log groups and the alert topic"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy = templatefile("${path.module}/policies/observability-key.json.tftpl", {
    partition  = local.partition
    region     = local.region
    account_id = local.account_id
    name       = var.name
  })
  tags = var.tags
}

resource "aws_kms_alias" "observability" {
  name          = "alias/${var.name}-observability"
  target_key_id = aws_kms_key.observability.key_id
}

# ---- Functions: one role and one log group each ----

resource "aws_iam_role" "function" {
  for_each = local.functions

  name               = "${var.name}-${each.key}"
  description        = "keyrotor ${each.key} function"
  assume_role_policy = local.service_trust_policies["lambda"]
  tags               = var.tags
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions

  name = "${var.name}-${each.key}"
  role = aws_iam_role.function[each.key].id
  policy = templatefile("${path.module}/policies/${each.key}.json.tftpl", merge(local.function_policy_vars, {
    log_group_arn = aws_cloudwatch_log_group.function[each.key].arn
  }))
}

# sts:AssumeRole on exactly arn:<partition>:iam::<member>:role/keyrotor/keyrotor-target of each
# listed account, only when there is one: the hub can act in no other account. The member's
# trust policy (infra/modules/member-account) admits these roles with the external id only.
resource "aws_iam_role_policy" "assume_target" {
  for_each = local.assume_target_roles

  name = "${var.name}-assume-target"
  role = aws_iam_role.function[each.key].id
  policy = templatefile("${path.module}/policies/assume-target.json.tftpl", {
    partition          = local.partition
    member_account_ids = var.member_account_ids
  })

  lifecycle {
    precondition {
      condition     = var.member_external_id != null
      error_message = "member_external_id must be set when member_account_ids lists accounts: each member's keyrotor-target role requires it (sts:ExternalId)."
    }
    precondition {
      condition     = !contains(var.member_account_ids, local.account_id)
      error_message = "member_account_ids must not list the engine's own account (${local.account_id}): its users are rotated with the functions' own roles, without accountId."
    }
  }
}

# A fleet over organizationalUnitId reads the OU's accounts with listusers' own role
# (organizations:ListAccountsForParent, which AWS answers only in the organization's management
# account or a delegated administrator account:
# https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccountsForParent.html).
# Resource "*": the call only names account ids, and listusers refuses any that
# member_account_ids does not list (AccountNotAllowed) before acting in it. The action could
# name the OU's ARN, but the OU is the fleet's run-time input, so it stays "*":
#tfsec:ignore:aws-iam-no-policy-wildcards
resource "aws_iam_role_policy" "list_organization" {
  count = var.member_organizational_units ? 1 : 0

  name   = "${var.name}-list-organization"
  role   = aws_iam_role.function["listusers"].id
  policy = templatefile("${path.module}/policies/list-organization.json.tftpl", {})

  lifecycle {
    precondition {
      condition     = length(var.member_account_ids) > 0
      error_message = "member_organizational_units needs member_account_ids: the fleet rotates an OU's accounts only when each is a listed member account."
    }
  }
}

resource "aws_iam_role_policy" "xray" {
  for_each = local.traced_roles

  name   = "${var.name}-xray"
  role   = merge(aws_iam_role.function, aws_iam_role.state_machine)[each.key].id
  policy = templatefile("${path.module}/policies/xray.json.tftpl", {})
}

resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions

  name              = "/aws/lambda/${var.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.observability.arn
  tags              = var.tags
}

resource "aws_lambda_function" "function" {
  for_each = local.functions

  function_name    = "${var.name}-${each.key}"
  description      = each.value.description
  role             = aws_iam_role.function[each.key].arn
  filename         = "${var.build_dir}/${each.key}.zip"
  source_code_hash = filebase64sha256("${var.build_dir}/${each.key}.zip")
  handler          = "bootstrap"
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  memory_size      = var.lambda_memory_mb
  timeout          = each.value.timeout

  environment {
    variables = merge(
      { KEYROTOR_PARAMETER_PREFIX = var.parameter_prefix },
      contains(local.kms_functions, each.key) ? { KEYROTOR_KMS_KEY_ID = aws_kms_key.secrets.arn } : {},
      each.value.environment, local.member_environment,
    )
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function[each.key].name
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }

  tracing_config {
    mode = var.tracing_enabled ? "Active" : "PassThrough"
  }

  tags = var.tags
  # Lambda checks at CreateFunction that an Active-traced function's role may call
  # xray:PutTraceSegments, so the X-Ray policy must exist first, as the function's own.
  depends_on = [aws_iam_role_policy.function, aws_iam_role_policy.xray, aws_iam_role_policy.assume_target, aws_iam_role_policy.list_organization]
}

# ---- The state machines: the rotation (one user) and the fleet (every managed user, one
# rotation execution each), each with its own role, policy and log group ----

locals {
  state_machines = {
    rotate = {
      name        = local.state_machine_name
      role_name   = "${var.name}-state-machine"
      description = "keyrotor rotation state machine"
    }
    fleet = {
      name        = local.fleet_state_machine_name
      role_name   = "${var.name}-fleet"
      description = "keyrotor fleet state machine"
    }
  }
  # Their policies and definitions refer to the functions, so they stand apart from
  # local.state_machines, whose keys the roles' for_each (and the X-Ray policies') read.
  state_machine_policies = {
    # Invoke the four steps.
    rotate = templatefile("${path.module}/policies/statemachine.json.tftpl", {
      step_function_arns = [for fn in local.step_functions : aws_lambda_function.function[fn].arn]
    })
    # Invoke listusers (which follows each rotation to its cut-over) and start rotation
    # executions (the plain integration: no .sync, so no Describe/Stop on them and no managed
    # EventBridge rule).
    fleet = templatefile("${path.module}/policies/fleet.json.tftpl", {
      partition                = local.partition
      region                   = local.region
      account_id               = local.account_id
      list_users_function_arn  = aws_lambda_function.function["listusers"].arn
      state_machine_name       = local.state_machine_name
      fleet_state_machine_name = local.fleet_state_machine_name
      fleet_bucket_arn         = aws_s3_bucket.fleet.arn
    })
  }
  state_machine_definitions = {
    rotate = templatefile("${path.module}/../../../statemachine/rotate.asl.json", {
      create_key_function_arn      = aws_lambda_function.function["createkey"].arn
      store_parameter_function_arn = aws_lambda_function.function["storeparam"].arn
      verify_key_function_arn      = aws_lambda_function.function["verifykey"].arn
      delete_old_keys_function_arn = aws_lambda_function.function["deleteoldkeys"].arn
    })
    # The rotation state machine's ARN as built from its name: both are instances of one
    # resource, which cannot refer to itself.
    fleet = templatefile("${path.module}/../../../statemachine/rotate-fleet.asl.json", {
      list_users_function_arn  = aws_lambda_function.function["listusers"].arn
      rotate_state_machine_arn = local.state_machine_arn
    })
  }
}

resource "aws_iam_role" "state_machine" {
  for_each = local.state_machines

  name               = each.value.role_name
  description        = each.value.description
  assume_role_policy = local.service_trust_policies["states"]
  tags               = var.tags
}

resource "aws_iam_role_policy" "state_machine" {
  for_each = local.state_machines

  name   = each.value.role_name
  role   = aws_iam_role.state_machine[each.key].id
  policy = local.state_machine_policies[each.key]
}

resource "aws_cloudwatch_log_group" "state_machine" {
  for_each = local.state_machines

  name              = "/aws/vendedlogs/states/${each.value.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.observability.arn
  tags              = var.tags
}

resource "aws_sfn_state_machine" "state_machine" {
  for_each = local.state_machines

  name       = each.value.name
  role_arn   = aws_iam_role.state_machine[each.key].arn
  type       = "STANDARD"
  definition = local.state_machine_definitions[each.key]

  # ERROR level without execution data: history and logs never carry state, sealed or not.
  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.state_machine[each.key].arn}:*"
    include_execution_data = false
    level                  = "ERROR"
  }

  tracing_configuration {
    enabled = var.tracing_enabled
  }

  tags       = var.tags
  depends_on = [aws_iam_role_policy.state_machine]
}

# The optional schedule: EventBridge Scheduler starts the fleet with fleet_input.
resource "aws_iam_role" "fleet_scheduler" {
  count = var.fleet_schedule == null ? 0 : 1

  name               = "${var.name}-fleet-scheduler"
  description        = "keyrotor: EventBridge Scheduler starts the fleet state machine"
  assume_role_policy = local.service_trust_policies["scheduler"]
  tags               = var.tags
}

resource "aws_iam_role_policy" "fleet_scheduler" {
  count = var.fleet_schedule == null ? 0 : 1

  name = "${var.name}-fleet-scheduler"
  role = aws_iam_role.fleet_scheduler[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "StartFleet"
      Effect   = "Allow"
      Action   = "states:StartExecution"
      Resource = aws_sfn_state_machine.state_machine["fleet"].arn
    }]
  })
}

resource "aws_scheduler_schedule" "fleet" {
  count = var.fleet_schedule == null ? 0 : 1

  name                         = "${var.name}-rotate-fleet"
  description                  = "keyrotor: rotate every managed user's key"
  schedule_expression          = var.fleet_schedule
  schedule_expression_timezone = var.fleet_schedule_timezone

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_sfn_state_machine.state_machine["fleet"].arn
    role_arn = aws_iam_role.fleet_scheduler[0].arn
    input    = jsonencode(var.fleet_input)

    retry_policy {
      maximum_retry_attempts       = 3
      maximum_event_age_in_seconds = 3600
    }
  }

  # What listusers would refuse (AccountNotAllowed, InvalidInput) is refused at plan time: a
  # scheduled fleet that fails at its first run is found a month late.
  lifecycle {
    precondition {
      condition     = var.fleet_input.accountIds == null ? true : alltrue([for id in var.fleet_input.accountIds : contains(var.member_account_ids, id)])
      error_message = "fleet_input.accountIds may list only accounts of member_account_ids (each runs infra/modules/member-account): listusers refuses any other (AccountNotAllowed)."
    }
    precondition {
      condition     = var.fleet_input.organizationalUnitId == null ? true : var.member_organizational_units
      error_message = "fleet_input.organizationalUnitId needs member_organizational_units = true (listusers then may read the OU's accounts)."
    }
  }
}

# ---- Alerts: failed executions and alarms go to one topic ----

resource "aws_sns_topic" "alerts" {
  count = local.create_topic ? 1 : 0

  name              = "${var.name}-alerts"
  kms_master_key_id = aws_kms_key.observability.arn
  tags              = var.tags
}

resource "aws_sns_topic_policy" "alerts" {
  count = local.create_topic ? 1 : 0

  arn = aws_sns_topic.alerts[0].arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "RotationFailedEvents"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alerts[0].arn
        Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.rotation_failed.arn } }
      },
      {
        Sid       = "Alarms"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alerts[0].arn
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
    ]
  })
}

resource "aws_cloudwatch_event_rule" "rotation_failed" {
  name        = "${var.name}-rotation-failed"
  description = "keyrotor: a rotation or fleet execution failed, timed out or was aborted (not by destroy)"
  event_pattern = jsonencode({
    source        = ["aws.states"]
    "detail-type" = ["Step Functions Execution Status Change"]
    detail = {
      status          = ["FAILED", "TIMED_OUT", "ABORTED"]
      stateMachineArn = [for sm in aws_sfn_state_machine.state_machine : sm.arn]
      # Not alerted: terraform destroy stops the rotation of the key it removes with
      # keyrotor.Destroyed (the trigger's DestroyedError), an abort that was asked for; and the
      # rejections, which end in the RotationRejected Fail state with Begin's error name and
      # change nothing (the fleet skipping a user another rotation holds, an early
      # rotation_token apply). The event carries the Fail state's error, not its name, so a
      # later step raising one of these names is not alerted either: only an input the state
      # machine itself corrupted (InvalidInput) or a user deleted mid-rotation (UserNotFound),
      # and the rotation's rollback still runs.
      # Event shape: https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html
      error = [null, { "anything-but" = local.unalerted_errors }]
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "rotation_failed" {
  rule      = aws_cloudwatch_event_rule.rotation_failed.name
  target_id = "alerts"
  arn       = local.topic_arn

  # Only names and status travel: the event's input/output fields are never forwarded.
  input_transformer {
    input_paths = {
      execution = "$.detail.executionArn"
      status    = "$.detail.status"
    }
    input_template = "\"keyrotor: rotation <execution> ended <status>. Its Fail state's cause (Step Functions console, execution history) says what to do.\""
  }
}

resource "aws_cloudwatch_metric_alarm" "executions" {
  # Only ExecutionsTimedOut. Not ExecutionsAborted: an abort is a StopExecution somebody asked
  # for (terraform destroy stops a rotation in its waits). Not ExecutionsFailed: Step Functions
  # publishes it per state machine only, without the error, so it would count every
  # RotationRejected (the fleet skipping a busy user, an early rotation_token apply); the
  # rotation_failed rule above alerts on each failed execution and leaves the rejections out.
  # Metrics and their dimensions: https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html
  for_each = toset(["ExecutionsTimedOut"])

  alarm_name          = "${var.name}-rotate-${each.key}"
  alarm_description   = "keyrotor: rotation ${each.key} on ${local.state_machine_name}"
  namespace           = "AWS/States"
  metric_name         = each.key
  dimensions          = { StateMachineArn = aws_sfn_state_machine.state_machine["rotate"].arn }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.topic_arn]
  tags                = var.tags
}

# KeyNotYetValid is verifykey's answer while IAM propagates a new key: the state machine retries
# it about a dozen times per rotation, and Lambda counts each as an Error; Begin's rejections are
# errors too. Lambda's Errors metric has no error-type dimension, so the functions' own JSON log
# line for a failed invocation ({"level":"ERROR","msg":"failed","error":"<name>",...}, written by
# internal/lambdamain's Adapt) is counted by a metric filter when its error is one of
# local.expected_step_errors, and the alarm subtracts it with metric math. JSON terms match
# exactly: internal/harness/alarms runs this pattern over the lines the functions really write.
# Filter syntax: https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html
# (JSON terms, https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/matching-terms-json-log-events.html);
# alarms on metric math: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Create-alarm-on-metric-math-expression.html.
# The log lines reach the group at application_log_level INFO because Lambda reads their
# "level" field: https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
resource "aws_cloudwatch_log_metric_filter" "expected_errors" {
  for_each = local.functions

  name           = "${var.name}-${each.key}-ExpectedErrors"
  log_group_name = aws_cloudwatch_log_group.function[each.key].name
  pattern        = "{ $.msg = \"failed\" && (${join(" || ", [for e in local.expected_step_errors : "$.error = \"${e}\""])}) }"

  metric_transformation {
    name      = "${each.key}-ExpectedErrors"
    namespace = "keyrotor/${var.name}"
    value     = "1"
  }
}

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each = local.functions

  alarm_name          = "${var.name}-${each.key}-errors"
  alarm_description   = "keyrotor: ${each.key} returned errors other than KeyNotYetValid and rejections"
  evaluation_periods  = 1
  threshold           = var.function_error_alarm_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.topic_arn]
  tags                = var.tags

  metric_query {
    id          = "failures"
    expression  = "errors - FILL(expected, 0)"
    label       = "Errors other than KeyNotYetValid and rejections"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      dimensions  = { FunctionName = aws_lambda_function.function[each.key].function_name }
      stat        = "Sum"
      period      = 900
    }
  }

  metric_query {
    id = "expected"
    metric {
      namespace   = aws_cloudwatch_log_metric_filter.expected_errors[each.key].metric_transformation[0].namespace
      metric_name = aws_cloudwatch_log_metric_filter.expected_errors[each.key].metric_transformation[0].name
      stat        = "Sum"
      period      = 900
    }
  }
}
