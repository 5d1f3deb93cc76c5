terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}

# The hub: the account of the current credentials, where the engine runs.
provider "aws" {
  region = var.region
}

# The members, reached from the hub's credentials through a role that may administer each
# (AWS Organizations creates OrganizationAccountAccessRole in every account it creates:
# https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_create-cross-account-role.html).
# Same region as the hub: the engine's functions call the members' SSM and KMS in their own.
provider "aws" {
  alias  = "member_a"
  region = var.region

  assume_role {
    role_arn     = "arn:aws:iam::${var.member_account_ids.member_a}:role/${var.deployer_role_name}"
    session_name = "keyrotor-terraform"
  }
}

provider "aws" {
  alias  = "member_b"
  region = var.region

  assume_role {
    role_arn     = "arn:aws:iam::${var.member_account_ids.member_b}:role/${var.deployer_role_name}"
    session_name = "keyrotor-terraform"
  }
}
