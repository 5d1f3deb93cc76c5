# A module call passes a configuration alias the module does not declare (configuration_aliases).
provider "aws" {
  alias  = "member"
  region = "eu-west-1"
}

data "aws_region" "current" {}

module "callee" {
  source        = "../modules/callee"
  providers     = { aws.member = aws.member }
  required_name = data.aws_region.current.region
}
