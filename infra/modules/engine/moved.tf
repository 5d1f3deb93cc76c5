# Resources whose address changed since an earlier release: Terraform moves each existing
# object to its new address, so that a deployment made before plans no destroy
# (https://developer.hashicorp.com/terraform/language/modules/develop/refactoring).

# The rotation and fleet state machines became two instances of one set of resources
# (local.state_machines).
moved {
  from = aws_iam_role.state_machine
  to   = aws_iam_role.state_machine["rotate"]
}

moved {
  from = aws_iam_role.fleet
  to   = aws_iam_role.state_machine["fleet"]
}

moved {
  from = aws_iam_role_policy.state_machine
  to   = aws_iam_role_policy.state_machine["rotate"]
}

moved {
  from = aws_iam_role_policy.fleet
  to   = aws_iam_role_policy.state_machine["fleet"]
}

moved {
  from = aws_cloudwatch_log_group.state_machine
  to   = aws_cloudwatch_log_group.state_machine["rotate"]
}

moved {
  from = aws_cloudwatch_log_group.fleet
  to   = aws_cloudwatch_log_group.state_machine["fleet"]
}

moved {
  from = aws_sfn_state_machine.rotate
  to   = aws_sfn_state_machine.state_machine["rotate"]
}

moved {
  from = aws_sfn_state_machine.fleet
  to   = aws_sfn_state_machine.state_machine["fleet"]
}

moved {
  from = aws_iam_role_policy.xray["state-machine"]
  to   = aws_iam_role_policy.xray["rotate"]
}
