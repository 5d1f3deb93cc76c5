resource "aws_cloudwatch_metric_alarm" "a" {
  alarm_name          = "a"
  comparison_operator = "GreaterThanOrEqualToThreshold"
  evaluation_periods  = 1

  metric_query {
    id = "m"
    metric {
      metric_name = "Errors"
      stat        = "Sum"
    }
  }
}
