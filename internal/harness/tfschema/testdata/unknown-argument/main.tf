resource "aws_iam_role" "r" {
  name                    = "r"
  assume_role_policy      = "{}"
  assume_role_policy_json = "{}"
}
