variable "region" {
  type        = string
  description = "AWS region of the engine and of the members' keyrotor resources (the same for all)."
  default     = "eu-west-1"
}

variable "member_a_account_id" {
  type        = string
  description = "First member account: its user reports-exporter is rotated by the hub."

  validation {
    condition     = can(regex("^[0-9]{12}$", var.member_a_account_id))
    error_message = "member_a_account_id must be an AWS account id of 12 digits."
  }
}

variable "member_b_account_id" {
  type        = string
  description = "Second member account: its user s3-signer is rotated by the hub."

  validation {
    condition     = can(regex("^[0-9]{12}$", var.member_b_account_id))
    error_message = "member_b_account_id must be an AWS account id of 12 digits."
  }
}

variable "deployer_role_name" {
  type        = string
  description = "Role in each member account that the hub's Terraform credentials assume to deploy there."
  default     = "OrganizationAccountAccessRole"
}

variable "external_id" {
  type        = string
  description = "ExternalId the engine's functions pass when they assume each member's keyrotor-target role (configuration, not a secret; pick one per organization)."

  validation {
    # AssumeRole's ExternalId (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html).
    condition     = length(var.external_id) >= 2 && length(var.external_id) <= 1224 && can(regex("^[A-Za-z0-9_+=,.@:/-]+$", var.external_id))
    error_message = "external_id must be 2 to 1224 letters, digits or _+=,.@:/- characters."
  }
}

variable "engine_name" {
  type        = string
  description = "Prefix of the engine's resources; the members trust its function roles <engine_name>-<function>."
  default     = "keyrotor"
}

variable "rotation_schedule" {
  type        = string
  description = "EventBridge Scheduler expression for both users' rotations."
  default     = "rate(30 days)"
}
