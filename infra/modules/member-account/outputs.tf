output "target_role_arn" {
  description = "The role the hub's functions assume in this account (arn:aws:iam::<account>:role/keyrotor/keyrotor-target)."
  value       = aws_iam_role.target.arn
}

output "kms_key_arn" {
  description = "The member key that encrypts this account's rotated parameters; consumers need kms:Decrypt on it (and must be listed, with the parameters they read, in parameter_readers)."
  value       = aws_kms_key.member.arn
}

output "kms_alias_name" {
  description = "The member key's alias, alias/keyrotor-member, by which the hub's functions name it."
  value       = aws_kms_alias.member.name
}

output "account_id" {
  description = "This member account's id: list it in the engine's member_account_ids and pass it as managed-key's account_id."
  value       = data.aws_caller_identity.current.account_id
}
