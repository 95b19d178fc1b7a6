terraform {
  # Nothing here needs a newer Terraform; 1.5 is the oldest still common.
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 7.0"
    }
  }
}
