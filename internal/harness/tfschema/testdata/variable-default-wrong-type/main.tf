variable "grace_seconds" {
  type    = number
  default = "an hour"
}

resource "aws_iam_role" "r" {
  name               = "r-${var.grace_seconds}"
  assume_role_policy = "{}"
}
