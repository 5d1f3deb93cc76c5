resource "aws_iam_role_policy" "p" {
  name   = "p"
  role   = aws_iam_role.missing.id
  policy = "{}"
}
