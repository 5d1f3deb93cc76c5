variable "required_name" {
  type = string
}

variable "optional_tags" {
  type    = map(string)
  default = {}
}

resource "terraform_data" "d" {
  input = var.required_name
}

output "arn" {
  value = terraform_data.d.output
}
