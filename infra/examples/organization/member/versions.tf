terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"

      # aws is the hub's provider (the managed key's rotation and schedule run there);
      # aws.member is the member's.
      configuration_aliases = [aws.member]
    }
  }
}
