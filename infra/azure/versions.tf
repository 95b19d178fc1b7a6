terraform {
  # Nothing here needs a newer Terraform; 1.5 is the oldest still common.
  required_version = ">= 1.5"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 4.0, < 5.0"
    }
  }
}
