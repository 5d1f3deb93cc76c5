module "callee" {
  source        = "../modules/callee"
  required_name = "x"
  optional_tags = ["a", "b"]
}
