data "aws_caller_identity" "current" {}

resource "aws_iam_role" "r" {
  name               = "r-${data.aws_caller_identity.current.account}"
  assume_role_policy = "{}"
}
