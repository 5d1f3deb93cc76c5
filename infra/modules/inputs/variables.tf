# The settings the engine and each member account take alike, validated here once; the calling
# module declares each (its description and default), passes it on unchanged and uses its own
# variable: a value refused here fails the caller's plan. So engine_name, parameter_prefix,
# managed_user_path, kms_deletion_window_days and external_id are only validated here, which
# tflint would report as unused.

variable "partition" {
  type        = string
  description = "The calling module's AWS partition (aws_partition): the readers' parameter ARNs are built in it."
}

variable "region" {
  type        = string
  description = "The calling module's region: where its parameters live."
}

variable "account_id" {
  type        = string
  description = "The calling module's account: the one whose parameters its readers read."
}

# tflint-ignore: terraform_unused_declarations
variable "engine_name" {
  type        = string
  description = "The engine's name (the engine's name, a member's engine_name): the prefix of the engine's resources."

  # The tightest name built from it is the fleet bucket, <name>-fleet-<account id>-<region>: S3
  # bucket names are 3-63 lowercase letters, digits, dots or hyphens and must not start with
  # xn--, sthree- or amzn-s3-demo- (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
  # With the longest region name AWS has, us-isof-south-1 (15 characters; botocore's
  # endpoints.json), 63 - 7 - 12 - 1 - 15 leaves 28. internal/harness/infracheck renders every
  # name the modules compute from this variable at its limits (names_test.go).
  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{0,27}$", var.engine_name)) && !can(regex("^(?i)(xn--|sthree-|amzn-s3-demo-)", var.engine_name))
    error_message = "engine_name (the engine's name) must start with a letter, hold at most 28 letters, digits or hyphens (it also names the fleet bucket <name>-fleet-<account>-<region>, at most 63 characters) and not start with xn--, sthree- or amzn-s3-demo- (prefixes S3 reserves)."
  }
}

# tflint-ignore: terraform_unused_declarations
variable "parameter_prefix" {
  type        = string
  description = "The SSM path under which keyrotor writes keys and locks (the engine's parameter_prefix)."

  validation {
    condition     = can(regex("^/([A-Za-z0-9_.-]+/)+$", var.parameter_prefix))
    error_message = "parameter_prefix must be an SSM path that starts and ends with \"/\", such as \"/keyrotor/\"."
  }
}

# tflint-ignore: terraform_unused_declarations
variable "managed_user_path" {
  type        = string
  description = "The IAM path of the users whose keys keyrotor may manage (the engine's managed_user_path)."

  validation {
    condition     = can(regex("^/([A-Za-z0-9_+=,.@-]+/)*$", var.managed_user_path))
    error_message = "managed_user_path must be an IAM path that starts and ends with \"/\", such as \"/\" or \"/keyrotor/\"."
  }
}

variable "parameter_readers" {
  type        = map(list(string))
  description = "Consumers of rotated parameters: IAM role ARN => the parameter names it reads."

  validation {
    condition = alltrue([for arn, names in var.parameter_readers :
      can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", arn)) && length(names) > 0 &&
    alltrue([for n in names : can(regex("^/[A-Za-z0-9_./-]+[A-Za-z0-9_-]$", n))])])
    error_message = "parameter_readers maps IAM role ARNs (arn:aws:iam::<account>:role/<name>) to non-empty lists of parameter names (/keyrotor/<user>)."
  }
}

# tflint-ignore: terraform_unused_declarations
variable "kms_deletion_window_days" {
  type        = number
  description = "Waiting period before the calling module's KMS keys are deleted after destroy, in days."

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

# Null for an engine without member accounts.
# tflint-ignore: terraform_unused_declarations
variable "external_id" {
  type        = string
  description = "The ExternalId the engine's functions pass to sts:AssumeRole of a member's keyrotor-target role: the engine's member_external_id, a member's external_id."
  default     = null

  validation {
    # AssumeRole's ExternalId: 2 to 1224 characters of [\w+=,.@:/-]
    # (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html; botocore's sts
    # model, externalIdType). The length is checked apart: Go's regexp, Terraform's, refuses a
    # repeat count above 1000 ({2,1224} would never match).
    condition     = var.external_id == null ? true : (length(var.external_id) >= 2 && length(var.external_id) <= 1224 && can(regex("^[A-Za-z0-9_+=,.@:/-]+$", var.external_id)))
    error_message = "external_id (the engine's member_external_id) must be 2 to 1224 letters, digits or _+=,.@:/- characters, as sts:AssumeRole accepts for ExternalId."
  }
}
