# A resource names a provider configuration that no provider block declares.
provider "aws" {
  alias  = "member_a"
  region = "eu-west-1"
}

resource "aws_iam_role" "r" {
  provider           = aws.member_b
  name               = "r"
  assume_role_policy = "{}"
}
