# The inputs the engine and member-account modules share: validated once (variables.tf), and the
# grants their KMS key policies derive from parameter_readers. It creates nothing.

locals {
  # One (reader, parameter) per key policy statement, in a stable order: each reader decrypts
  # only the parameters it reads. SSM passes the parameter's ARN as the encryption context
  # PARAMETER_ARN (https://docs.aws.amazon.com/kms/latest/developerguide/services-parameter-store.html).
  reader_grants = flatten([for reader in sort(keys(var.parameter_readers)) : [
    for name in var.parameter_readers[reader] : {
      reader        = reader
      parameter_arn = "arn:${var.partition}:ssm:${var.region}:${var.account_id}:parameter${name}"
    }
  ]])
}
