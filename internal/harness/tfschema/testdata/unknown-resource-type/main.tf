resource "aws_lambda_functon" "f" {
  function_name = "f"
}
