# One resource group holds the whole deployment, so that it can be found,
# costed and removed as one. The virtual network has a subnet each for the
# Application Gateway (which must have one of its own), the instances and
# the Cosmos DB private endpoint.

data "azurerm_client_config" "current" {}

locals {
  tags = merge({ Project = var.name }, var.tags)
  # Cosmos DB account names and public DNS labels are global: a suffix
  # fixed by the subscription and the name keeps them unique, and the same
  # from one apply to the next.
  suffix  = substr(sha1("${data.azurerm_client_config.current.subscription_id}/${var.name}"), 0, 8)
  gateway = var.front == "application-gateway"
  # A /24 each, whatever the size of the address space.
  newbits = 24 - tonumber(split("/", var.address_space)[1])
  subnet = {
    front     = cidrsubnet(var.address_space, local.newbits, 1)
    app       = cidrsubnet(var.address_space, local.newbits, 2)
    endpoints = cidrsubnet(var.address_space, local.newbits, 3)
  }
}

resource "azurerm_resource_group" "this" {
  name     = "${var.name}-rg"
  location = var.location
  tags     = local.tags
}

resource "azurerm_virtual_network" "this" {
  name                = "${var.name}-vnet"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  address_space       = [var.address_space]
  tags                = local.tags
}

resource "azurerm_subnet" "front" {
  name                 = "front"
  resource_group_name  = azurerm_resource_group.this.name
  virtual_network_name = azurerm_virtual_network.this.name
  address_prefixes     = [local.subnet.front]
}

# No public addresses and no default outbound access: the instances need
# nothing from the internet. The image carries everything; tokens come from
# the instance metadata service, extensions through the host's wire server,
# and Cosmos DB through the private endpoint below.
resource "azurerm_subnet" "app" {
  name                            = "app"
  resource_group_name             = azurerm_resource_group.this.name
  virtual_network_name            = azurerm_virtual_network.this.name
  address_prefixes                = [local.subnet.app]
  default_outbound_access_enabled = false
}

resource "azurerm_subnet" "endpoints" {
  name                            = "endpoints"
  resource_group_name             = azurerm_resource_group.this.name
  virtual_network_name            = azurerm_virtual_network.this.name
  address_prefixes                = [local.subnet.endpoints]
  default_outbound_access_enabled = false
}

# The instances' subnet admits the web port from the front and nothing
# else: the deny rule shadows Azure's default rules, which would let the
# whole virtual network (and the load balancer's probes) reach any port.
resource "azurerm_network_security_group" "app" {
  name                = "${var.name}-app-nsg"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags
}

# The Application Gateway proxies: requests and probes come from its own
# subnet.
resource "azurerm_network_security_rule" "from_gateway" {
  count = local.gateway ? 1 : 0

  name                        = "web-from-gateway"
  priority                    = 100
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_address_prefix       = local.subnet.front
  source_port_range           = "*"
  destination_address_prefix  = local.subnet.app
  destination_port_range      = tostring(var.web_port)
  resource_group_name         = azurerm_resource_group.this.name
  network_security_group_name = azurerm_network_security_group.app.name
}

# The load balancer passes packets through with the client's address, so
# the rule admits the internet, but only on the web port, and the instances
# have no public address: the load balancer's rule is the only way in.
resource "azurerm_network_security_rule" "from_load_balancer" {
  count = local.gateway ? 0 : 1

  name                        = "web-through-load-balancer"
  priority                    = 100
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_address_prefix       = "Internet"
  source_port_range           = "*"
  destination_address_prefix  = local.subnet.app
  destination_port_range      = tostring(var.web_port)
  resource_group_name         = azurerm_resource_group.this.name
  network_security_group_name = azurerm_network_security_group.app.name
}

resource "azurerm_network_security_rule" "probes" {
  count = local.gateway ? 0 : 1

  name                        = "web-from-load-balancer-probes"
  priority                    = 110
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_address_prefix       = "AzureLoadBalancer"
  source_port_range           = "*"
  destination_address_prefix  = local.subnet.app
  destination_port_range      = tostring(var.web_port)
  resource_group_name         = azurerm_resource_group.this.name
  network_security_group_name = azurerm_network_security_group.app.name
}

resource "azurerm_network_security_rule" "deny" {
  name                        = "deny-everything-else"
  priority                    = 4000
  direction                   = "Inbound"
  access                      = "Deny"
  protocol                    = "*"
  source_address_prefix       = "*"
  source_port_range           = "*"
  destination_address_prefix  = "*"
  destination_port_range      = "*"
  resource_group_name         = azurerm_resource_group.this.name
  network_security_group_name = azurerm_network_security_group.app.name
}

resource "azurerm_subnet_network_security_group_association" "app" {
  subnet_id                 = azurerm_subnet.app.id
  network_security_group_id = azurerm_network_security_group.app.id
}
