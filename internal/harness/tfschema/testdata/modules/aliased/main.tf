# A module that receives a second configuration of the AWS provider.
terraform {
  required_providers {
    aws = {
      source                = "hashicorp/aws"
      configuration_aliases = [aws.member]
    }
  }
}

data "aws_caller_identity" "member" {
  provider = aws.member
}

output "member_account_id" {
  value = data.aws_caller_identity.member.account_id
}
