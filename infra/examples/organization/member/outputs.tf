output "target_role_arn" {
  description = "The member's keyrotor-target role."
  value       = module.account.target_role_arn
}

output "access_key_id" {
  description = "The user's current AccessKeyId (the secret exists only in the member's parameter)."
  value       = module.key.access_key_id
}

output "parameter_arn" {
  description = "The user's SecureString parameter, in the member account."
  value       = module.key.parameter_arn
}
