output "arn" {
  value = module.engine.arn
}
