# Where Packer publishes the image (images/, the second phase): a gallery
# and one image definition, made here so that their names are fixed and
# both phases agree on them. Packer adds versions; Terraform never manages
# a version, it only reads the one the scale set should run.

resource "azurerm_shared_image_gallery" "this" {
  name                = "${replace(var.name, "-", "_")}_images"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  description         = "Images of the candidates API (${var.name})"
  tags                = local.tags
}

resource "azurerm_shared_image" "app" {
  name                = var.name
  gallery_name        = azurerm_shared_image_gallery.this.name
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  os_type             = "Linux"
  hyper_v_generation  = "V2"
  architecture        = "x64"
  description         = "Debian 12 with nginx or lighttpd and the candidates API"
  tags                = local.tags

  identifier {
    publisher = "candidates"
    offer     = var.name
    sku       = "debian-12"
  }
}

# "latest" is resolved here, at plan time, to one version's id, so a new
# version is a change of the scale set's model that its Rolling upgrade
# policy rolls out batch by batch. A scale set pointed at the image
# definition itself would take the latest version only for instances it
# creates later, and never replace the running ones.
data "azurerm_shared_image_version" "app" {
  count = local.serving ? 1 : 0

  name                    = var.image_version
  image_name              = azurerm_shared_image.app.name
  gallery_name            = azurerm_shared_image_gallery.this.name
  resource_group_name     = azurerm_resource_group.this.name
  sort_versions_by_semver = true
}
