output "state_machine_arn" {
  description = "ARN of the rotation state machine (start it by hand with the execution input of docs/steps.md)."
  value       = aws_sfn_state_machine.state_machine["rotate"].arn
}

output "function_arns" {
  description = "ARN of each function, keyed by name: createkey, storeparam, verifykey, deleteoldkeys, trigger, listusers."
  value       = { for name, fn in aws_lambda_function.function : name => fn.arn }
}

output "trigger_function_name" {
  description = "Name of the trigger function that the managed-key module invokes."
  value       = aws_lambda_function.function["trigger"].function_name
}

output "kms_key_arn" {
  description = "ARN of the KMS key that encrypts rotated parameters; consumers need kms:Decrypt on it (and must be listed, with the parameters they read, in parameter_readers)."
  value       = aws_kms_key.secrets.arn
}

output "topic_arn" {
  description = "SNS topic receiving failed-rotation events and alarms."
  value       = local.topic_arn
}

output "parameter_prefix" {
  description = "The SSM path under which rotated parameters live."
  value       = var.parameter_prefix
}

output "managed_user_path" {
  description = "The IAM path of users keyrotor may manage."
  value       = var.managed_user_path
}

output "fleet_state_machine_arn" {
  description = "ARN of the fleet state machine: rotates every user tagged keyrotor:managed=true, one rotation execution each (keyrotor rotate --all)."
  value       = aws_sfn_state_machine.state_machine["fleet"].arn
}

# managed-key refuses at plan a grace or inactive period below these (the engine's Begin would
# refuse the rotation with InvalidInput).
output "min_grace_seconds" {
  description = "The engine's floor of graceSeconds; pass it to managed-key's min_grace_seconds."
  value       = var.min_grace_seconds
}

output "min_inactive_seconds" {
  description = "The engine's floor of inactiveSeconds; pass it to managed-key's min_inactive_seconds."
  value       = var.min_inactive_seconds
}
