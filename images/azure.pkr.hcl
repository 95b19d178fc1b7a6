# Azure: a version of the deployment's Azure Compute Gallery image, from
# Debian's own Debian 12 (Gen2) marketplace image, and the variables only
# this source reads. infra/azure makes the gallery and the image
# definition; its outputs name them, and infra/deploy.sh passes them here.

variable "azure_subscription_id" {
  type        = string
  description = "The subscription the gallery is in (infra/deploy.sh passes the Azure CLI's); empty: the Azure CLI's default subscription."
  default     = ""
}

variable "azure_location" {
  type        = string
  description = "The region the build VM runs in and the image version is replicated to: Terraform's location output."
  default     = "eastus"
}

variable "azure_resource_group" {
  type        = string
  description = "The deployment's resource group, which holds the gallery and receives the managed image: Terraform's resource_group output."
  default     = "candidates-rg"
}

variable "azure_gallery_name" {
  type        = string
  description = "The Azure Compute Gallery the version is published to: Terraform's gallery_name output."
  default     = "candidates_images"
}

variable "azure_image_name" {
  type        = string
  description = "The gallery's image definition (Linux, Gen2, x64) the version belongs to: Terraform's image_name output."
  default     = "candidates"
}

variable "azure_vm_size" {
  type        = string
  description = "The build VM's size; x64 and Gen2, like the image definition."
  default     = "Standard_B2s"
}

# No default that opens SSH to the world: the source refuses an empty list
# (below), so a direct `packer build` must say who may connect, as
# infra/deploy.sh does with the caller's address.
variable "azure_ssh_cidrs" {
  type        = list(string)
  description = "Who may reach the build VM's temporary SSH port: the address packer runs from, as a /32 (infra/deploy.sh finds it). Required for an Azure build, e.g. -var 'azure_ssh_cidrs=[\"203.0.113.7/32\"]'."
  default     = []
}

locals {
  # Gallery versions are MAJOR.MINOR.PATCH, each a 32-bit number, and the
  # scale set's "latest" is the highest: 1.YYYYMMDD.1hhmmss grows with
  # every build (the 1 keeps a leading zero off the patch number).
  azure_image_version = "1.${replace(local.stamp, "-", ".1")}"
}

source "azure-arm" "debian" {
  # The Azure CLI's login, as the rest of infra/deploy.sh uses.
  use_azure_cli_auth = true
  subscription_id    = var.azure_subscription_id

  # Debian's own image: publisher Debian, offer debian-12, the Gen2 SKU.
  os_type         = "Linux"
  image_publisher = "Debian"
  image_offer     = "debian-12"
  image_sku       = "12-gen2"
  image_version   = "latest"

  # The build VM lives in a resource group Packer makes and deletes, with
  # a public address whose SSH port only the given addresses may reach.
  # An empty list would leave the port to Azure's defaults, so it becomes
  # an address Packer refuses: "allowed_inbound_ip_addresses must only
  # contain valid IP addresses" means azure_ssh_cidrs is not set.
  location                     = var.azure_location
  vm_size                      = var.azure_vm_size
  communicator                 = "ssh"
  ssh_username                 = "packer"
  allowed_inbound_ip_addresses = length(var.azure_ssh_cidrs) > 0 ? var.azure_ssh_cidrs : ["azure_ssh_cidrs-is-not-set"]

  # Debian's packer 1.6.6 publishes to a gallery only from a managed image,
  # so there is one too, in the deployment's resource group and named for
  # the deployment; infra/deploy.sh destroy deletes both.
  managed_image_name                = "${var.deployment}-${local.stamp}"
  managed_image_resource_group_name = var.azure_resource_group

  shared_image_gallery_destination {
    resource_group      = var.azure_resource_group
    gallery_name        = var.azure_gallery_name
    image_name          = var.azure_image_name
    image_version       = local.azure_image_version
    replication_regions = [var.azure_location]
  }

  # What the image is and was made from, on the managed image and on
  # everything Packer makes meanwhile.
  azure_tags = {
    Project     = var.deployment
    WebServer   = var.web_server
    WebPort     = var.web_port
    BuiltAt     = local.stamp
    GitCommit   = var.git_commit
    SourceImage = "Debian:debian-12:12-gen2:latest"
  }
}
