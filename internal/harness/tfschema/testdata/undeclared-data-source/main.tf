resource "aws_iam_role" "r" {
  name               = "r-${data.aws_region.current.region}"
  assume_role_policy = "{}"
}
