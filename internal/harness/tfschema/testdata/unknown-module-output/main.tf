module "callee" {
  source        = "../modules/callee"
  required_name = "x"
}

output "arn" {
  value = module.callee.state_machine_arn
}
