# An existing user of the engine's account is read to check its tags at plan time. A member
# account's user is not: this module's provider is the engine's (hub) account, and the
# rotation itself refuses a user without keyrotor:managed=true (UserNotManaged).
data "aws_iam_user" "existing" {
  count     = var.create_user || var.account_id != null ? 0 : 1
  user_name = var.user_name
}

locals {
  parameter_name = coalesce(var.parameter_name, "${var.parameter_prefix}${var.user_name}")
  # The user: created here, a member account's (named only: this provider cannot read it), or
  # an existing one of the engine's account.
  user_name = (
    var.create_user ? aws_iam_user.managed[0].name :
    var.account_id != null ? var.user_name :
    data.aws_iam_user.existing[0].user_name
  )
  # Shared by the schedule, its role ("-scheduler") and its queue ("-dlq"): at most 50
  # characters that all three accept (SQS allows only letters, digits, - and _). A user name
  # that had to be changed to fit (another character, or too long) gets a hash of itself, so
  # that two users (a.b and a-b, or two long names alike at the start) never share these names.
  schedule_base = "keyrotor-${replace(var.user_name, "/[^A-Za-z0-9_-]/", "-")}"
  schedule_name = (local.schedule_base == "keyrotor-${var.user_name}" && length(local.schedule_base) <= 50 ? local.schedule_base :
  "${substr(local.schedule_base, 0, 41)}-${substr(sha1(var.user_name), 0, 8)}")

  # The user's tags keyrotor reads: the opt-in, and the parameter and format the fleet uses.
  # keyrotor:ses-region names the region of a ses-smtp user's SMTP password.
  user_tags = merge({
    "keyrotor:managed"   = "true"
    "keyrotor:parameter" = local.parameter_name
    "keyrotor:format"    = var.format
  }, var.ses_region == null ? {} : { "keyrotor:ses-region" = var.ses_region })
  # An existing user must already carry them when they differ from the defaults the fleet
  # assumes (<parameter_prefix><user_name>, json); they may always be present.
  existing_tags = var.create_user || var.account_id != null ? {} : try(data.aws_iam_user.existing[0].tags, {})

  # A rate() schedule's period in seconds (0 for cron() and at(), whose gaps vary): an old key
  # stays active for the period, then the grace; the compliance precondition adds the inactive
  # time too, as the key exists until it is deleted.
  schedule_rate           = regexall("^rate\\(([1-9][0-9]*) (minute|minutes|hour|hours|day|days)\\)$", var.schedule_expression)
  schedule_period_seconds = length(local.schedule_rate) == 0 ? 0 : tonumber(local.schedule_rate[0][0]) * { minute = 60, minutes = 60, hour = 3600, hours = 3600, day = 86400, days = 86400 }[local.schedule_rate[0][1]]
  oldest_key_seconds      = local.schedule_period_seconds + var.grace_seconds + var.inactive_seconds

  # The rotation events of this key (internal/rotation/event.go): its user's (a user has one
  # keyrotor parameter; a refusal may come before the parameter is known), in its member
  # account when it has one.
  event_pattern = {
    source        = ["keyrotor"]
    "detail-type" = ["keyrotor rotation"]
    detail = merge({
      userName = [local.user_name]
    }, var.account_id == null ? {} : { account = [var.account_id] })
  }

  # The execution input of docs/steps.md; the schedule and the trigger start the same rotation.
  # accountId (issue 15) only for a member account's user: without it the engine's own.
  rotation = merge({
    userName        = local.user_name
    parameterName   = local.parameter_name
    graceSeconds    = var.grace_seconds
    inactiveSeconds = var.inactive_seconds
    format          = var.format
  }, var.account_id == null ? {} : { accountId = var.account_id }, var.ses_region == null ? {} : { sesRegion = var.ses_region })
}

resource "aws_iam_user" "managed" {
  count = var.create_user ? 1 : 0

  name = var.user_name
  path = var.user_path
  # keyrotor:parameter and keyrotor:format tell the fleet (and every Begin) where this user's
  # key lives and how it is written: a run that contradicts them is refused (issue 17).
  tags = merge(var.tags, local.user_tags)
  # A new user_name replaces this user, and Terraform deletes the old one before the
  # invocation's update removes its keys; IAM refuses to delete a user that has keys, so the
  # provider deletes them first. The old parameter is still cleaned up by that update.
  force_destroy = true
}

resource "terraform_data" "checks" {
  input = local.parameter_name

  lifecycle {
    precondition {
      condition     = var.grace_seconds >= var.min_grace_seconds && var.inactive_seconds >= var.min_inactive_seconds
      error_message = "grace_seconds ${var.grace_seconds} and inactive_seconds ${var.inactive_seconds} must be at least the engine's floors, min_grace_seconds ${var.min_grace_seconds} and min_inactive_seconds ${var.min_inactive_seconds} (pass module.engine.min_grace_seconds and min_inactive_seconds): the engine refuses shorter waits (InvalidInput) and the apply-time rotation would fail."
    }
    precondition {
      condition     = startswith(local.parameter_name, var.parameter_prefix) && !endswith(local.parameter_name, ".lock")
      error_message = "parameter_name ${local.parameter_name} must lie under the engine's parameter_prefix ${var.parameter_prefix} (and not end with .lock): the engine's roles may touch no other parameter."
    }
    precondition {
      condition     = length(var.notify_emails) == 0 || var.notify_topic_arn != null
      error_message = "notify_emails are subscribed to notify_topic_arn: set it too (a topic whose policy lets events.amazonaws.com publish)."
    }
    precondition {
      condition     = local.oldest_key_seconds <= var.max_key_age_days * 86400
      error_message = "schedule_expression ${var.schedule_expression} + grace_seconds (${var.grace_seconds}) + inactive_seconds (${var.inactive_seconds}) lets a key live ${format("%.2f", local.oldest_key_seconds / 86400)} days, past max_key_age_days (${var.max_key_age_days}; AWS Config's access-keys-rotated flags an active key older than that): rotate more often, e.g. rate(${max(1, floor((var.max_key_age_days * 86400 - var.grace_seconds - var.inactive_seconds) / 86400))} days), or shorten the waits."
    }
    precondition {
      condition     = (var.format == "ses-smtp") == (var.ses_region != null)
      error_message = "format = \"ses-smtp\" needs ses_region (the region whose SES SMTP endpoint the consumer uses), and ses_region is only for format = \"ses-smtp\"."
    }
    precondition {
      condition     = var.account_id == null || !var.create_user
      error_message = "With account_id (a member account's user), create_user must be false: this module's provider is the engine's account, so create the user in the member account with a provider for it (tagged keyrotor:managed=true, keyrotor:parameter and keyrotor:format, under the managed path; see README)."
    }
    precondition {
      condition     = var.create_user || var.account_id != null || try(data.aws_iam_user.existing[0].tags["keyrotor:managed"], "") == "true"
      error_message = "User ${var.user_name} lacks the tag keyrotor:managed=true, so keyrotor may not touch its keys. Tag it (aws iam tag-user --user-name ${var.user_name} --tags Key=keyrotor:managed,Value=true) or set create_user = true."
    }
    precondition {
      condition = var.create_user || var.account_id != null || (
        lookup(local.existing_tags, "keyrotor:parameter", "${var.parameter_prefix}${var.user_name}") == local.parameter_name &&
        lookup(local.existing_tags, "keyrotor:format", "json") == var.format
      )
      error_message = "User ${var.user_name} must carry keyrotor:parameter=${local.parameter_name} and keyrotor:format=${var.format} (the fleet rotates into the parameter and format these tags name, and a rotation contradicting them is refused): aws iam tag-user --user-name ${var.user_name} --tags Key=keyrotor:parameter,Value=${local.parameter_name} Key=keyrotor:format,Value=${var.format}"
    }
  }
}

# ---- Apply-time rotation: the trigger starts an execution and returns once the key is verified;
# destroy deletes the managed keys and the parameter. Only ids and names come back. ----

resource "aws_lambda_invocation" "rotate" {
  function_name   = var.trigger_function_name
  lifecycle_scope = "CRUD"
  terraform_key   = "tf"
  input = jsonencode({
    rotation      = local.rotation
    rotationToken = var.rotation_token
  })

  depends_on = [terraform_data.checks]
}

# ---- Scheduled rotation ----

resource "aws_sqs_queue" "dead_letter" {
  name                      = "${local.schedule_name}-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

resource "aws_iam_role" "scheduler" {
  name        = "${local.schedule_name}-scheduler"
  description = "keyrotor: lets EventBridge Scheduler start rotations of ${var.user_name}"
  # EventBridge Scheduler acting for the engine's account only (infra/policies).
  assume_role_policy = templatefile("${path.module}/../../policies/service-trust.json.tftpl", {
    service    = "scheduler"
    account_id = split(":", var.state_machine_arn)[4]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "scheduler" {
  name = "${local.schedule_name}-scheduler"
  role = aws_iam_role.scheduler.id
  policy = templatefile("${path.module}/policies/scheduler.json.tftpl", {
    state_machine_arn     = var.state_machine_arn
    dead_letter_queue_arn = aws_sqs_queue.dead_letter.arn
  })
}

resource "aws_scheduler_schedule" "rotate" {
  name                         = local.schedule_name
  description                  = "keyrotor: rotate the access key of ${var.user_name} into ${local.parameter_name}"
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = var.schedule_timezone
  state                        = var.schedule_enabled ? "ENABLED" : "DISABLED"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = var.state_machine_arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode(local.rotation)

    retry_policy {
      maximum_retry_attempts       = var.retry_max_attempts
      maximum_event_age_in_seconds = var.maximum_event_age_seconds
    }

    dead_letter_config {
      arn = aws_sqs_queue.dead_letter.arn
    }
  }

  depends_on = [aws_iam_role_policy.scheduler, aws_lambda_invocation.rotate]
}

# ---- Rotation events: each outcome of this key's rotations, to the owners' topic ----

resource "aws_cloudwatch_event_rule" "outcome" {
  count = var.notify_topic_arn == null ? 0 : 1

  name          = "${local.schedule_name}-outcome"
  description   = "keyrotor: rotation outcomes of ${var.user_name} (rotated, rolled back, refused)"
  event_pattern = jsonencode(local.event_pattern)
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "outcome" {
  count = var.notify_topic_arn == null ? 0 : 1

  rule = aws_cloudwatch_event_rule.outcome[0].name
  arn  = var.notify_topic_arn
}

resource "aws_sns_topic_subscription" "outcome" {
  for_each = var.notify_topic_arn == null ? toset([]) : toset(var.notify_emails)

  topic_arn = var.notify_topic_arn
  protocol  = "email"
  endpoint  = each.value
}
