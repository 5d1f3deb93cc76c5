output "state_machine_arn" {
  description = "The hub's rotation state machine: start it with {\"userName\": \"s3-signer\", \"accountId\": \"<member_b_account_id>\"} to rotate now."
  value       = module.engine.state_machine_arn
}

output "member_target_role_arns" {
  description = "The keyrotor-target role of each member account."
  value       = { member_a = module.member_a.target_role_arn, member_b = module.member_b.target_role_arn }
}

output "access_key_ids" {
  description = "Each member user's current AccessKeyId (the secrets exist only in the members' parameters)."
  value       = { member_a = module.member_a.access_key_id, member_b = module.member_b.access_key_id }
}

output "parameter_arns" {
  description = "Each member user's SecureString parameter, in its own account."
  value       = { member_a = module.member_a.parameter_arn, member_b = module.member_b.parameter_arn }
}
