resource "aws_iam_role" "r" {
  name = "r"
}
