resource "aws_iam_role" "r" {
  name               = local.role_name
  assume_role_policy = "{}"
}
