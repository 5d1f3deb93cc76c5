# name, parameter_prefix, managed_user_path, parameter_readers, kms_deletion_window_days and
# member_external_id are validated where member-account's are too: ../inputs (module.inputs).

variable "name" {
  type        = string
  description = "Prefix of every resource the engine creates: functions are <name>-<function>, the state machine <name>-rotate, the fleet bucket <lowercased name>-fleet-<account>-<region>."
  default     = "keyrotor"
}

# Required, without a default: a module used from git lives in .terraform/modules/<name>/, where
# a path.module-relative build/ does not exist (git does not carry built zips), so no default is
# right for every caller; a missing zip is reported here rather than by filebase64sha256.
variable "build_dir" {
  type        = string
  description = "Directory holding the Lambda zips built by `make build` (<build_dir>/<function>.zip for createkey, storeparam, verifykey, deleteoldkeys, trigger and listusers): this repository's build/ after `make build`; the examples pass \"$${path.root}/../../../build\"."

  validation {
    condition     = alltrue([for fn in ["createkey", "storeparam", "verifykey", "deleteoldkeys", "trigger", "listusers"] : fileexists("${var.build_dir}/${fn}.zip")])
    error_message = "build_dir must hold createkey.zip, storeparam.zip, verifykey.zip, deleteoldkeys.zip, trigger.zip and listusers.zip: run `make build` in the keyrotor repository and pass its build/ directory."
  }
}

variable "parameter_prefix" {
  type        = string
  description = "SSM parameter path under which keyrotor may write keys; every rotated parameter must start with it."
  default     = "/keyrotor/"
}

variable "managed_user_path" {
  type        = string
  description = "IAM path of the users whose keys keyrotor may manage (in addition to the keyrotor:managed=true tag). The default, /keyrotor/, keeps the engine's roles off every user outside it, so that tagging a user is not enough to hand its keys to keyrotor; \"/\" allows every path."
  default     = "/keyrotor/"
}

variable "parameter_readers" {
  type        = map(list(string))
  description = "Consumers of rotated parameters: IAM role ARN => the parameter names it reads (e.g. [\"/keyrotor/s3-signer\"]). The KMS key policy lets each role decrypt, through SSM only, exactly those parameters (encryption context PARAMETER_ARN), so that one application cannot decrypt another's key even with a broad SSM policy. Roles of the engine's account only (Standard-tier parameters are not shared across accounts). Each (role, parameter) is one key policy statement of about 500 bytes; the key policy holds at most 32,768 bytes, so about 60 of them (checked at plan)."
  default     = {}
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the functions' and the state machine's CloudWatch log groups, in days."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch Logs' retention values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "tracing_enabled" {
  type        = bool
  description = "Enable AWS X-Ray tracing for the functions and the state machine."
  default     = false
}

variable "alarm_topic_arn" {
  type        = string
  description = "SNS topic for failed-rotation events and alarms. Null creates a KMS-encrypted topic <name>-alerts."
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>) or null."
  }
}

variable "lambda_memory_mb" {
  type        = number
  description = "Memory of each function, in MB."
  default     = 256

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240 && floor(var.lambda_memory_mb) == var.lambda_memory_mb
    error_message = "lambda_memory_mb must be a whole number between 128 and 10240."
  }
}

variable "kms_deletion_window_days" {
  type        = number
  description = "Waiting period before the engine's KMS keys are deleted after destroy, in days."
  default     = 30
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every taggable resource."
  default     = {}
}

variable "function_error_alarm_threshold" {
  type        = number
  description = "Errors of one function within 15 minutes that raise its alarm. KeyNotYetValid (verifykey waiting for IAM to propagate a new key, retried by the state machine) is not counted; other retried errors (Throttled, ServiceUnavailable) are."
  default     = 5

  validation {
    condition     = var.function_error_alarm_threshold >= 1
    error_message = "function_error_alarm_threshold must be at least 1."
  }
}

variable "fleet_schedule" {
  type        = string
  description = "When EventBridge Scheduler starts the fleet state machine (every managed user rotated): rate(30 days), cron(0 3 1 * ? *) or at(2030-01-01T03:00:00). Null: no schedule; start the fleet by hand (keyrotor rotate --all)."
  default     = null

  validation {
    condition = var.fleet_schedule == null || (
      can(regex("^rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)$", var.fleet_schedule)) ||
      can(regex("^cron\\(\\S+ \\S+ \\S+ \\S+ \\S+ \\S+\\)$", var.fleet_schedule)) ||
      can(regex("^at\\([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\)$", var.fleet_schedule))
    )
    error_message = "fleet_schedule must be null, rate(<n> minutes|hours|days), cron(<6 fields>) or at(yyyy-mm-ddThh:mm:ss), for example rate(30 days)."
  }
}

variable "fleet_schedule_timezone" {
  type        = string
  description = "IANA time zone of a cron() or at() fleet_schedule."
  default     = "UTC"
}

variable "fleet_input" {
  type = object({
    maxConcurrency             = optional(number)
    toleratedFailurePercentage = optional(number)
    graceSeconds               = optional(number)
    inactiveSeconds            = optional(number)
    pathPrefix                 = optional(string)
    accountIds                 = optional(list(string))
    organizationalUnitId       = optional(string)
  })
  description = "Execution input of the scheduled fleet (statemachine/README.md): rotations at once (default 10), failure percentage above which the fleet stops (default 100), the rotations' waits (default 3600 and 86400 s), an IAM path under managed_user_path to narrow the fleet to, and the member accounts to rotate instead of this engine's own: accountIds (each listed in member_account_ids) and/or organizationalUnitId (the ACTIVE accounts directly in that OU or root; needs member_organizational_units)."
  default     = {}

  validation {
    condition = (
      (var.fleet_input.maxConcurrency == null ? true : var.fleet_input.maxConcurrency >= 1 && var.fleet_input.maxConcurrency <= 1000) &&
      (var.fleet_input.toleratedFailurePercentage == null ? true : var.fleet_input.toleratedFailurePercentage >= 0 && var.fleet_input.toleratedFailurePercentage <= 100) &&
      (var.fleet_input.graceSeconds == null ? true : var.fleet_input.graceSeconds >= 0 && var.fleet_input.graceSeconds <= 604800) &&
      (var.fleet_input.inactiveSeconds == null ? true : var.fleet_input.inactiveSeconds >= 0 && var.fleet_input.inactiveSeconds <= 2592000)
    )
    error_message = "fleet_input: maxConcurrency must be 1-1000, toleratedFailurePercentage 0-100, graceSeconds 0-604800 and inactiveSeconds 0-2592000."
  }

  # As listusers checks the execution input (internal/rotation: fleetDefaults, ouAccounts);
  # that the accounts are members is checked against member_account_ids on the schedule.
  validation {
    condition = (var.fleet_input.accountIds == null ? true :
    alltrue([for id in var.fleet_input.accountIds : can(regex("^[0-9]{12}$", id))]) && length(distinct(var.fleet_input.accountIds)) == length(var.fleet_input.accountIds))
    error_message = "fleet_input: accountIds must be distinct AWS account ids of 12 digits each."
  }

  validation {
    condition     = var.fleet_input.organizationalUnitId == null ? true : can(regex("^(r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$", var.fleet_input.organizationalUnitId))
    error_message = "fleet_input: organizationalUnitId must be an AWS Organizations OU id (ou-…-…) or root id (r-…)."
  }
}

variable "min_grace_seconds" {
  type        = number
  description = "Floor of every rotation's graceSeconds (KEYROTOR_MIN_GRACE_SECONDS): no StartExecution caller can ask for a shorter overlap, which would break consumers that cache the key. The default, 1800, is rotation.InUseWindow: IAM records a key's last use at most once per 15 minutes, so a shorter grace cannot yet tell a key still in use from one left at verification. Pass it to managed-key (module.engine.min_grace_seconds). The local engine and the demo set 0."
  default     = 1800

  validation {
    condition     = var.min_grace_seconds >= 0 && var.min_grace_seconds <= 604800 && floor(var.min_grace_seconds) == var.min_grace_seconds
    error_message = "min_grace_seconds must be a whole number from 0 to 604800."
  }
}

variable "min_inactive_seconds" {
  type        = number
  description = "Floor of every rotation's inactiveSeconds (KEYROTOR_MIN_INACTIVE_SECONDS): how long an old key stays inactive, and so can be re-activated, before it is deleted. The local engine and the demo set 0."
  default     = 3600

  validation {
    condition     = var.min_inactive_seconds >= 0 && var.min_inactive_seconds <= 2592000 && floor(var.min_inactive_seconds) == var.min_inactive_seconds
    error_message = "min_inactive_seconds must be a whole number from 0 to 2592000."
  }
}

variable "member_account_ids" {
  type        = list(string)
  description = "Member accounts (issue 15) whose managed users this engine rotates (execution input accountId): each must run infra/modules/member-account with this engine's account, name and member_external_id. The function roles may assume exactly arn:aws:iam::<id>:role/keyrotor/keyrotor-target of each, and no role when the list is empty."
  default     = []

  validation {
    condition     = alltrue([for id in var.member_account_ids : can(regex("^[0-9]{12}$", id))]) && length(distinct(var.member_account_ids)) == length(var.member_account_ids)
    error_message = "member_account_ids must be distinct AWS account ids of 12 digits each."
  }

  # Each listed account adds its role ARN to every function role's inline policies, which IAM
  # caps at 10,240 characters per role (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html),
  # and its id to KEYROTOR_MEMBER_ACCOUNTS, within Lambda's 4 KB of environment variables
  # (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html); 100 fit both
  # (internal/deployed: TestHundredMemberAccountsFitIAMAndLambdaQuotas).
  validation {
    condition     = length(var.member_account_ids) <= 100
    error_message = "member_account_ids may list at most 100 accounts: more would not fit IAM's 10,240 characters of inline policy per role or Lambda's 4 KB of environment variables."
  }
}

variable "member_organizational_units" {
  type        = bool
  description = "Let the fleet take organizationalUnitId (rotate the member accounts directly in an AWS Organizations OU or root): grants listusers organizations:ListAccountsForParent. The engine must then run in the organization's management account or a delegated administrator account, and every account found must still be in member_account_ids."
  default     = false
}

# Configuration, not a secret: an external id guards against a confused deputy, and each
# member's trust policy holds it where anyone who may read the role sees it. It reaches the
# functions as KEYROTOR_TARGET_EXTERNAL_ID.
variable "member_external_id" {
  type        = string
  description = "The ExternalId the functions pass to sts:AssumeRole of each member's keyrotor-target role (its trust policy requires it, sts:ExternalId). Required when member_account_ids is not empty."
  default     = null
}
