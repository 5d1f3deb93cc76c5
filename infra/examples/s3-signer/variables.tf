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
