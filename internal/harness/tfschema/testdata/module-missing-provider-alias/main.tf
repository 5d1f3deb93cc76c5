# A module declares configuration_aliases = [aws.member]; the call does not pass it.
module "aliased" {
  source = "../modules/aliased"
}
