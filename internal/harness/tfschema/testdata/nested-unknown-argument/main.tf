resource "aws_sfn_state_machine" "m" {
  name       = "m"
  role_arn   = "arn:aws:iam::111122223333:role/r"
  definition = "{}"

  logging_configuration {
    levle = "ERROR"
  }
}
