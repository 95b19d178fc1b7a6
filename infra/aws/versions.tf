terraform {
  # terraform init reads tests/ too, whose override_during needs 1.11: an
  # older version would fail there with a less clear message.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70, < 6.0"
    }
  }
}
