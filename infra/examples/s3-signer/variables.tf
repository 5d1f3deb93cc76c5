variable "region" {
  type        = string
  description = "AWS region to deploy the example into."
  default     = "eu-west-1"
}

variable "bucket_name" {
  type        = string
  description = "Existing S3 bucket whose objects the consumer presigns (the signer user gets s3:GetObject on it)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be an S3 bucket name: 3 to 63 lowercase letters, digits, dots or hyphens."
  }
}

variable "signer_user_name" {
  type        = string
  description = "Name of the IAM user whose rotated key signs the URLs."
  default     = "s3-signer"
}

variable "consumer_zip" {
  type        = string
  description = "Zip of the consumer Lambda (bootstrap built from infra/examples/s3-signer/consumer for linux/arm64). Null means build/s3-signer-consumer.zip in this repository."
  default     = null
}

variable "rotation_schedule" {
  type        = string
  description = "EventBridge Scheduler expression for the signer key's rotation."
  default     = "rate(30 days)"
}

variable "grace_seconds" {
  type        = number
  description = "Seconds between verifying the signer's new key and deactivating the old one; at least signer_cache_ttl_seconds + url_max_expires_seconds, so every URL signed with the old key expires first."
  default     = 1800
}

variable "signer_cache_ttl_seconds" {
  type        = number
  description = "How long the consumer uses a key it read before reading the parameter again (ssmcreds' TTL; its default is 300)."
  default     = 300

  validation {
    condition     = var.signer_cache_ttl_seconds >= 1 && floor(var.signer_cache_ttl_seconds) == var.signer_cache_ttl_seconds
    error_message = "signer_cache_ttl_seconds must be a whole number of seconds, at least 1."
  }
}

variable "url_max_expires_seconds" {
  type        = number
  description = "The longest life the consumer gives a presigned URL; requests asking for more are refused."
  default     = 900

  validation {
    condition     = var.url_max_expires_seconds >= 1 && var.url_max_expires_seconds <= 604800 && floor(var.url_max_expires_seconds) == var.url_max_expires_seconds
    error_message = "url_max_expires_seconds must be a whole number from 1 to 604800 (S3's limit of 7 days)."
  }
}

variable "inactive_seconds" {
  type        = number
  description = "Seconds an old key stays deactivated before it is deleted (a window to reactivate it by hand)."
  default     = 86400
}

variable "engine_name" {
  type        = string
  description = "Prefix of the engine's resources (its functions are <engine_name>-<function>)."
  default     = "keyrotor"
}

variable "min_grace_seconds" {
  type        = number
  description = "The engine's floor of every rotation's graceSeconds (its min_grace_seconds; default as the engine's). make aws-acceptance lowers it, with inactive, so that a run takes minutes."
  default     = 1800
}

variable "min_inactive_seconds" {
  type        = number
  description = "The engine's floor of every rotation's inactiveSeconds (its min_inactive_seconds; default as the engine's)."
  default     = 3600
}
