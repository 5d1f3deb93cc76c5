data "aws_regions_current" "r" {}
