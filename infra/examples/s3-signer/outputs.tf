output "consumer_function_name" {
  description = "Invoke it with {\"bucket\": ..., \"key\": ..., \"expiresSeconds\": 900} to get a presigned URL."
  value       = aws_lambda_function.consumer.function_name
}

output "signer_access_key_id" {
  description = "The signer's current AccessKeyId (the secret exists only in the parameter)."
  value       = module.signer_key.access_key_id
}

output "parameter_name" {
  description = "The SecureString parameter holding the signer's key."
  value       = module.signer_key.parameter_name
}

output "state_machine_arn" {
  description = "The rotation state machine: start it from the console with {\"userName\": \"<signer_user_name>\"} to rotate now."
  value       = module.engine.state_machine_arn
}
