# tflint for keyrotor's Terraform. Only the terraform ruleset bundled in tflint is used: it needs
# no plugin download (the AWS ruleset cannot be fetched where keyrotor's checks run).
config {
  call_module_type = "none"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}
