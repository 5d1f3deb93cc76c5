variable "member" {
  type = object({
    account_id         = string # 12 digits; aws.member must reach it
    user_name          = string # the IAM user whose key the hub rotates
    consumer_role_name = string # the role in the member that reads the user's key (a Lambda's)
  })
  description = "The member account, its user and the consumer role."
}

variable "engine" {
  type = object({
    name                  = string # the members trust its function roles <name>-<function>
    hub_account_id        = string # the account where the engine runs
    external_id           = string # passed when its functions assume keyrotor-target
    state_machine_arn     = string
    trigger_function_name = string
    parameter_prefix      = string # the user's key is kept in <parameter_prefix><user_name>
    user_path             = string # the engine's managed_user_path
    rotation_schedule     = string # EventBridge Scheduler expression
    min_grace_seconds     = number # the engine's floors, which managed-key holds the waits to
    min_inactive_seconds  = number
  })
  description = "The hub's engine, as every member sees it."
}
