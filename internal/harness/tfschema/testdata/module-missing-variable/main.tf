module "callee" {
  source        = "../modules/callee"
  optional_tags = {}
}
