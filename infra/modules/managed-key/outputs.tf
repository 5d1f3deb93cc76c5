output "access_key_id" {
  description = "The AccessKeyId that the parameter holds after the apply-time rotation (the secret is only in the parameter)."
  value       = jsondecode(aws_lambda_invocation.rotate.result).access_key_id
}

output "parameter_name" {
  description = "The SSM SecureString parameter that consumers read at run time."
  value       = jsondecode(aws_lambda_invocation.rotate.result).parameter_name
}

output "parameter_arn" {
  description = "ARN of the parameter, for consumers' ssm:GetParameter policies."
  value       = jsondecode(aws_lambda_invocation.rotate.result).parameter_arn
}
