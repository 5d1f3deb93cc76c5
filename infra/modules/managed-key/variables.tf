variable "user_name" {
  type        = string
  description = "IAM user whose access key keyrotor rotates."

  validation {
    condition     = can(regex("^[A-Za-z0-9_+=,.@-]{1,64}$", var.user_name))
    error_message = "user_name must be an IAM user name: 1 to 64 letters, digits or _+=,.@- characters."
  }
}

variable "create_user" {
  type        = bool
  description = "Create the IAM user (tagged keyrotor:managed=true). False uses an existing user by name, which must already carry that tag."
  default     = true
}

variable "user_path" {
  type        = string
  description = "IAM path of the user when create_user is true; it must fall under the engine's managed_user_path (both default to /keyrotor/)."
  default     = "/keyrotor/"

  validation {
    condition     = can(regex("^/([A-Za-z0-9_+=,.@-]+/)*$", var.user_path))
    error_message = "user_path must be an IAM path that starts and ends with \"/\"."
  }
}

variable "state_machine_arn" {
  type        = string
  description = "The engine's rotation state machine (module.engine.state_machine_arn)."

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:states:[a-z0-9-]+:[0-9]{12}:stateMachine:[A-Za-z0-9_-]+$", var.state_machine_arn))
    error_message = "state_machine_arn must be a Step Functions state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>)."
  }
}

variable "trigger_function_name" {
  type        = string
  description = "The engine's trigger function (module.engine.trigger_function_name), invoked on apply and destroy."
}

variable "parameter_prefix" {
  type        = string
  description = "The engine's parameter prefix (module.engine.parameter_prefix)."
  default     = "/keyrotor/"

  validation {
    condition     = can(regex("^/([A-Za-z0-9_.-]+/)+$", var.parameter_prefix))
    error_message = "parameter_prefix must be an SSM path that starts and ends with \"/\"."
  }
}

variable "parameter_name" {
  type        = string
  description = "SSM parameter that holds the current key. Null means <parameter_prefix><user_name>. It must lie under parameter_prefix."
  default     = null

  validation {
    condition     = var.parameter_name == null || can(regex("^/[A-Za-z0-9_./-]+[A-Za-z0-9_-]$", var.parameter_name))
    error_message = "parameter_name must be an SSM parameter path such as \"/keyrotor/s3-signer\" (it must not end with \"/\" or \".lock\")."
  }
}

variable "format" {
  type        = string
  description = "Parameter value: \"json\" stores {\"AccessKeyId\",\"SecretAccessKey\"}, \"raw\" the secret alone, \"ses-smtp\" adds SmtpUsername, SmtpPassword (derived for ses_region), SmtpRegion and SmtpEndpoint for an Amazon SES SMTP consumer."
  default     = "json"

  validation {
    condition     = contains(["json", "raw", "ses-smtp"], var.format)
    error_message = "format must be \"json\", \"raw\" or \"ses-smtp\"."
  }
}

variable "ses_region" {
  type        = string
  description = "With format = \"ses-smtp\": the AWS Region whose SES SMTP endpoint (email-smtp.<region>.amazonaws.com) the consumer logs in to; the SMTP password is derived for it. Null otherwise."
  default     = null

  validation {
    condition     = var.ses_region == null || can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$", var.ses_region))
    error_message = "ses_region must be an AWS Region code such as \"eu-west-1\"."
  }
}

variable "grace_seconds" {
  type        = number
  description = "Seconds between verifying the new key and deactivating the old one (consumers pick up the new key meanwhile)."
  default     = 3600

  validation {
    condition     = var.grace_seconds >= 0 && var.grace_seconds <= 604800 && floor(var.grace_seconds) == var.grace_seconds
    error_message = "grace_seconds must be a whole number from 0 to 604800 (7 days)."
  }
}

variable "inactive_seconds" {
  type        = number
  description = "Seconds an old key stays deactivated before it is deleted (a window to reactivate it by hand)."
  default     = 86400

  validation {
    condition     = var.inactive_seconds >= 0 && var.inactive_seconds <= 2592000 && floor(var.inactive_seconds) == var.inactive_seconds
    error_message = "inactive_seconds must be a whole number from 0 to 2592000 (30 days)."
  }
}

variable "schedule_expression" {
  type        = string
  description = "When to rotate: an EventBridge Scheduler expression, rate(30 days), cron(0 3 1 * ? *) or at(2030-01-01T03:00:00)."
  default     = "rate(30 days)"

  validation {
    condition = (
      can(regex("^rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)$", var.schedule_expression)) ||
      can(regex("^cron\\(\\S+ \\S+ \\S+ \\S+ \\S+ \\S+\\)$", var.schedule_expression)) ||
      can(regex("^at\\([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\)$", var.schedule_expression))
    )
    error_message = "schedule_expression must be rate(<n> minutes|hours|days), cron(<6 fields>) or at(yyyy-mm-ddThh:mm:ss), for example rate(30 days)."
  }
}

variable "schedule_timezone" {
  type        = string
  description = "IANA time zone of cron() and at() schedule expressions."
  default     = "UTC"
}

variable "schedule_enabled" {
  type        = bool
  description = "Whether the rotation schedule is enabled (the apply-time rotation happens either way)."
  default     = true
}

variable "retry_max_attempts" {
  type        = number
  description = "How often the scheduler retries a failed StartExecution before sending it to the dead-letter queue."
  default     = 10

  validation {
    condition     = var.retry_max_attempts >= 0 && var.retry_max_attempts <= 185
    error_message = "retry_max_attempts must be between 0 and 185."
  }
}

variable "maximum_event_age_seconds" {
  type        = number
  description = "How long the scheduler keeps retrying one start, in seconds."
  default     = 3600

  validation {
    condition     = var.maximum_event_age_seconds >= 60 && var.maximum_event_age_seconds <= 86400
    error_message = "maximum_event_age_seconds must be between 60 and 86400."
  }
}

variable "rotation_token" {
  type        = string
  description = "Change this value to rotate the key on the next apply (any string, for example a date)."
  default     = ""
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every taggable resource (the user also gets keyrotor:managed=true)."
  default     = {}
}

variable "account_id" {
  type        = string
  description = "Member account of the user (issue 15): the rotation's accountId, so that the engine acts there through its keyrotor-target role and the key, parameter and lock live in that account. Null: the engine's own account. It must be one of the engine's member_account_ids, with create_user = false (the user is created in the member account with a provider for it, see README)."
  default     = null

  validation {
    condition     = var.account_id == null || can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be null or an AWS account id of 12 digits."
  }
}

# The engine's floors (module.engine.min_grace_seconds / min_inactive_seconds): Begin refuses a
# rotation with shorter waits (InvalidInput), so the plan refuses them first (terraform_data.checks).
variable "min_grace_seconds" {
  type        = number
  description = "The engine's min_grace_seconds (module.engine.min_grace_seconds): grace_seconds below it is refused at plan, as the engine would refuse the rotation."
  default     = 1800
}

variable "min_inactive_seconds" {
  type        = number
  description = "The engine's min_inactive_seconds (module.engine.min_inactive_seconds): inactive_seconds below it is refused at plan, as the engine would refuse the rotation."
  default     = 3600
}

variable "max_key_age_days" {
  type        = number
  description = "Oldest an active access key may grow, in days: AWS Config's access-keys-rotated rule flags an active key older than its maxAccessKeyAge, 90 days by default (https://docs.aws.amazon.com/config/latest/developerguide/access-keys-rotated.html). A rate() schedule whose period + grace_seconds + inactive_seconds exceeds it is refused."
  default     = 90

  validation {
    condition     = var.max_key_age_days >= 1 && floor(var.max_key_age_days) == var.max_key_age_days
    error_message = "max_key_age_days must be a whole number of days, at least 1."
  }
}

variable "notify_topic_arn" {
  type        = string
  description = "SNS topic that receives this key's rotation events (source keyrotor: rotated, rolled back, refused; docs/steps.md, \"Rotation events\"). Its access policy must let events.amazonaws.com publish (and, if it is KMS-encrypted, the key must let EventBridge use it). Null: no routing."
  default     = null

  validation {
    condition     = var.notify_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.notify_topic_arn))
    error_message = "notify_topic_arn must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)."
  }
}

variable "notify_emails" {
  type        = list(string)
  description = "E-mail addresses subscribed to notify_topic_arn for this key's rotation events (each confirms its subscription)."
  default     = []

  validation {
    condition     = alltrue([for e in var.notify_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "notify_emails must be e-mail addresses."
  }
}
