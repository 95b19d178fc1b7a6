# The third phase: the scale set, once Packer has published a version of
# the gallery image (var.image_version). Until then it does not exist.

locals {
  serving = var.image_version != ""
}

# A user-assigned identity outlives the scale set and exists before it, so
# its Cosmos DB role is in place before the first instance boots.
resource "azurerm_user_assigned_identity" "app" {
  name                = "${var.name}-app"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags
}

resource "azurerm_linux_virtual_machine_scale_set" "app" {
  count = local.serving ? 1 : 0

  name                = "${var.name}-vmss"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  sku                 = var.vm_size
  instances           = local.autoscale.minimum
  zones               = var.zones
  source_image_id     = data.azurerm_shared_image_version.app[0].id
  upgrade_mode        = "Rolling"
  # Extra instances that come and go at every scale-out would join the
  # front's pool and run the health extension for nothing.
  overprovision = false
  tags          = local.tags

  admin_username                  = "azureuser"
  disable_password_authentication = true

  admin_ssh_key {
    username   = "azureuser"
    public_key = var.admin_ssh_public_key
  }

  custom_data = base64encode(templatefile("${path.module}/cloud_init.yaml.tftpl", {
    endpoint  = azurerm_cosmosdb_account.this.endpoint
    database  = azurerm_cosmosdb_sql_database.candidates.name
    container = azurerm_cosmosdb_sql_container.candidates.name
    client_id = azurerm_user_assigned_identity.app.client_id
    threads   = var.app_threads
  }))

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.app.id]
  }

  os_disk {
    caching              = "ReadWrite"
    storage_account_type = "StandardSSD_LRS"
  }

  network_interface {
    name    = "app"
    primary = true

    ip_configuration {
      name                                         = "app"
      primary                                      = true
      subnet_id                                    = azurerm_subnet.app.id
      application_gateway_backend_address_pool_ids = local.gateway ? [one(azurerm_application_gateway.front[0].backend_address_pool).id] : []
      load_balancer_backend_address_pool_ids       = local.gateway ? [] : [azurerm_lb_backend_address_pool.app[0].id]
    }
  }

  # Health from inside the instance: GET /gtg on the web port must answer
  # 200 (binary health states, version 1.0). Rolling upgrades wait for it
  # and automatic repairs act on it.
  extension {
    name                       = "health"
    publisher                  = "Microsoft.ManagedServices"
    type                       = "ApplicationHealthLinux"
    type_handler_version       = "1.0"
    auto_upgrade_minor_version = true
    settings = jsonencode({
      protocol          = "http"
      port              = var.web_port
      requestPath       = "/gtg"
      intervalInSeconds = 5
      numberOfProbes    = 2
    })
  }

  # An instance whose /gtg fails is replaced, after a grace period long
  # enough to boot (a minute or two) with room to spare; 10 minutes is
  # Azure's shortest.
  automatic_instance_repair {
    enabled      = true
    grace_period = "PT10M"
    action       = "Replace"
  }

  # A new image version: half the instances at a time, each new one made
  # before an old one goes (surge), so capacity never drops; one unhealthy
  # new instance stops the rollout with the old ones still serving.
  rolling_upgrade_policy {
    max_batch_instance_percent              = 50
    max_unhealthy_instance_percent          = 50
    max_unhealthy_upgraded_instance_percent = 20
    pause_time_between_batches              = "PT30S"
    maximum_surge_instances_enabled         = var.rolling_upgrade_surge
    prioritize_unhealthy_instances_enabled  = true
    cross_zone_upgrades_enabled             = true
  }

  # The serial log holds cloud-init's output, in storage Azure manages.
  boot_diagnostics {}

  # The instances start with their store reachable and the subnet locked
  # down, never the other way round.
  depends_on = [
    azurerm_cosmosdb_sql_role_assignment.app,
    azurerm_private_endpoint.cosmos,
    azurerm_subnet_network_security_group_association.app,
  ]

  lifecycle {
    # Autoscale owns the instance count once the scale set exists; an
    # apply must not reset it in the middle of a peak.
    ignore_changes = [instances]

    precondition {
      condition     = var.admin_ssh_public_key != ""
      error_message = "A scale set needs admin_ssh_public_key (Azure requires an admin key on Linux; no rule admits SSH)."
    }
  }
}
