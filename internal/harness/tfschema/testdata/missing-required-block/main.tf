resource "aws_scheduler_schedule" "s" {
  name                = "s"
  schedule_expression = "rate(1 day)"

  target {
    arn      = "arn:aws:states:eu-west-1:111122223333:stateMachine:m"
    role_arn = "arn:aws:iam::111122223333:role/r"
  }
}
