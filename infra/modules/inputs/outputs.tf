output "reader_arns" {
  description = "The reader role of each key policy statement, in the order of reader_parameter_arns."
  value       = [for g in local.reader_grants : g.reader]
}

output "reader_parameter_arns" {
  description = "The parameter ARN of each key policy statement, in the order of reader_arns."
  value       = [for g in local.reader_grants : g.parameter_arn]
}

# Standard-tier parameters are not shared across accounts
# (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-shared-parameters.html),
# so a reader of another account could never read them: the key preconditions refuse one.
output "readers_in_account" {
  description = "Whether every reader role is of account_id."
  value       = alltrue([for arn in keys(var.parameter_readers) : split(":", arn)[4] == var.account_id])
}
