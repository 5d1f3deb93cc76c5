resource "aws_iam_role" "r" {
  name               = var.role_name
  assume_role_policy = "{}"
}
