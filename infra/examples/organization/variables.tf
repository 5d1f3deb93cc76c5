variable "region" {
  type        = string
  description = "AWS region of the engine and of the members' keyrotor resources (the same for all)."
  default     = "eu-west-1"
}

variable "member_account_ids" {
  type        = object({ member_a = string, member_b = string })
  description = "The two member accounts: member_a's user reports-exporter and member_b's user s3-signer are rotated by the hub."

  # Checked here too, before the engine's member_account_ids: the member providers assume a
  # role in each account as soon as they are configured.
  validation {
    condition     = alltrue([for id in values(var.member_account_ids) : can(regex("^[0-9]{12}$", id))])
    error_message = "member_account_ids must give member_a and member_b an AWS account id of 12 digits each."
  }
}

variable "deployer_role_name" {
  type        = string
  description = "Role in each member account that the hub's Terraform credentials assume to deploy there."
  default     = "OrganizationAccountAccessRole"
}

# Validated by the engine (infra/modules/inputs), which takes it as member_external_id.
variable "external_id" {
  type        = string
  description = "ExternalId the engine's functions pass when they assume each member's keyrotor-target role (configuration, not a secret; pick one per organization)."
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
