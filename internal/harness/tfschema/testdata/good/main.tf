# Every rule satisfied: the checker reports nothing here.
variable "memory" {
  type    = number
  default = 256
}

locals {
  timeout = 60
}

data "aws_region" "current" {}

# A second account's configuration, named by a resource and passed to a module.
provider "aws" {
  alias  = "member"
  region = "eu-west-1"
}

data "aws_caller_identity" "member" {
  provider = aws.member
}

resource "aws_iam_role" "r" {
  name               = "r"
  assume_role_policy = "{}"
}

resource "aws_lambda_function" "f" {
  function_name = "f-${data.aws_region.current.region}"
  role          = aws_iam_role.r.arn
  memory_size   = var.memory
  timeout       = local.timeout
  publish       = "true"
  architectures = ["arm64"]

  environment {
    variables = { A = "1" }
  }

  tracing_config {
    mode = "Active"
  }

  dynamic "vpc_config" {
    for_each = []
    content {
      subnet_ids         = vpc_config.value
      security_group_ids = []
    }
  }

  lifecycle {
    precondition {
      condition     = var.memory >= 128
      error_message = "memory"
    }
  }

  depends_on = [aws_iam_role.r]
}

module "callee" {
  source        = "../modules/callee"
  providers     = { aws = aws.member }
  required_name = "${aws_lambda_function.f.function_name}-${data.aws_caller_identity.member.account_id}"
}

module "aliased" {
  source    = "../modules/aliased"
  providers = { aws = aws, aws.member = aws.member }
}

output "arn" {
  value = module.callee.arn
}
