resource "aws_iam_role" "r" {
  name               = "r"
  assume_role_policy = "{}"
}

resource "aws_lambda_function" "f" {
  function_name  = "f"
  role           = aws_iam_role.r.arn
  tracing_config = { mode = "Active" }
}
