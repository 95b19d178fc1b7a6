output "url" {
  description = "The service's address, for validate and load."
  value       = "http://${azurerm_public_ip.front.fqdn}"
}

output "name" {
  description = "The deployment's name (var.name), its Project tag."
  value       = var.name
}

output "resource_group" {
  description = "The resource group that holds everything this deployment made, Packer's image versions included."
  value       = azurerm_resource_group.this.name
}

output "location" {
  description = "The region, for Packer and the Azure CLI."
  value       = azurerm_resource_group.this.location
}

output "gallery_name" {
  description = "The Azure Compute Gallery Packer publishes into (shared_image_gallery_destination.gallery_name)."
  value       = azurerm_shared_image_gallery.this.name
}

output "image_name" {
  description = "The gallery's image definition Packer adds versions to (shared_image_gallery_destination.image_name)."
  value       = azurerm_shared_image.app.name
}

output "image_version_id" {
  description = "The image version the scale set runs (empty before the third phase)."
  value       = local.serving ? data.azurerm_shared_image_version.app[0].id : ""
}

output "vmss_name" {
  description = "The scale set's name (empty before the third phase)."
  value       = local.serving ? azurerm_linux_virtual_machine_scale_set.app[0].name : ""
}

output "front" {
  description = "What faces the internet: application-gateway or load-balancer."
  value       = var.front
}

output "cosmos_account" {
  description = "The Cosmos DB account's name."
  value       = azurerm_cosmosdb_account.this.name
}

output "cosmos_endpoint" {
  description = "The Cosmos DB account's endpoint (COSMOS_ENDPOINT on the instances)."
  value       = azurerm_cosmosdb_account.this.endpoint
}

output "identity_client_id" {
  description = "The instances' user-assigned identity (AZURE_CLIENT_ID on the instances)."
  value       = azurerm_user_assigned_identity.app.client_id
}
