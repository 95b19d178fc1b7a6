provider "azurerm" {
  # azurerm 4 needs a subscription: this one, or ARM_SUBSCRIPTION_ID.
  subscription_id = var.subscription_id == "" ? null : var.subscription_id

  features {}
}
