# engine_name, parameter_prefix, managed_user_path, parameter_readers, kms_deletion_window_days
# and external_id are validated where the engine's are too: ../inputs (module.inputs).

variable "hub_account_id" {
  type        = string
  description = "The account of the hub engine (infra/modules/engine) whose functions rotate this account's managed users."

  validation {
    condition     = can(regex("^[0-9]{12}$", var.hub_account_id))
    error_message = "hub_account_id must be an AWS account id: 12 digits."
  }
}

variable "engine_name" {
  type        = string
  description = "The hub engine's name variable: its function roles are <engine_name>-<function> (the only principals the target role trusts) and its state machine <engine_name>-rotate (whose executions the seal names)."
  default     = "keyrotor"
}

# The engine's member_external_id. Not a secret: it guards against a confused deputy, and the
# trust policy holding it is readable by anyone who may read this role.
variable "external_id" {
  type        = string
  description = "The ExternalId the hub's functions pass to sts:AssumeRole (the engine's member_external_id); the target role's trust policy requires it (sts:ExternalId)."
  nullable    = false
}

variable "parameter_prefix" {
  type        = string
  description = "The engine's parameter_prefix: the SSM path in this account under which the target role may write keys and locks."
  default     = "/keyrotor/"
}

variable "managed_user_path" {
  type        = string
  description = "The engine's managed_user_path: the IAM path of this account's users whose keys the target role may manage (in addition to the keyrotor:managed=true tag)."
  default     = "/keyrotor/"
}

variable "parameter_readers" {
  type        = map(list(string))
  description = "Consumers in this account of its rotated parameters: IAM role ARN => the parameter names it reads. The member key's policy lets each role decrypt, through SSM only, exactly those parameters (encryption context PARAMETER_ARN), as the engine's parameter_readers does for the engine's account."
  default     = {}
}

variable "kms_deletion_window_days" {
  type        = number
  description = "Waiting period before the member key is deleted after destroy, in days."
  default     = 30
}

variable "tags" {
  type        = map(string)
  description = "Tags added to the role and the key."
  default     = {}
}
