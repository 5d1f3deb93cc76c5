output "state_machine_arn" {
  description = "The hub's rotation state machine: start it with {\"userName\": \"s3-signer\", \"accountId\": \"<member_account_ids.member_b>\"} to rotate now."
  value       = module.engine.state_machine_arn
}

output "member_target_role_arns" {
  description = "The keyrotor-target role of each member account."
  value       = { for name, member in local.member_modules : name => member.target_role_arn }
}

output "access_key_ids" {
  description = "Each member user's current AccessKeyId (the secrets exist only in the members' parameters)."
  value       = { for name, member in local.member_modules : name => member.access_key_id }
}

output "parameter_arns" {
  description = "Each member user's SecureString parameter, in its own account."
  value       = { for name, member in local.member_modules : name => member.parameter_arn }
}
