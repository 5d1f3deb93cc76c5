module "callee" {
  source        = "../modules/callee"
  required_name = "x"
  tag           = { a = "b" }
}
