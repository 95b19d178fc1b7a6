# What faces the internet, on HTTP port 80: the Application Gateway v2 of
# the original (a proxy: it drains connections and retries nothing), or the
# portal guide's Standard load balancer (packets passed through). Either
# sends traffic only to instances whose GET /gtg answers 200; /gtg never
# touches the store, so a Cosmos DB outage does not empty the pool.

resource "azurerm_public_ip" "front" {
  name                = "${var.name}-front"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  allocation_method   = "Static"
  sku                 = "Standard"
  zones               = var.zones
  domain_name_label   = "${var.name}-${local.suffix}"
  tags                = local.tags
}

locals {
  gateway_names = {
    frontend = "public"
    port     = "http"
    pool     = "app"
    settings = "app"
    probe    = "gtg"
    listener = "http"
  }
}

resource "azurerm_application_gateway" "front" {
  count = local.gateway ? 1 : 0

  name                = "${var.name}-gateway"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  zones               = var.zones
  tags                = local.tags

  sku {
    name = "Standard_v2"
    tier = "Standard_v2"
  }

  # No reserved capacity: an idle gateway pays its fixed price only.
  autoscale_configuration {
    min_capacity = 0
    max_capacity = 2
  }

  # Azure refuses new gateways on the old default TLS policy, listener or
  # not.
  ssl_policy {
    policy_type = "Predefined"
    policy_name = "AppGwSslPolicy20220101"
  }

  gateway_ip_configuration {
    name      = "gateway"
    subnet_id = azurerm_subnet.front.id
  }

  frontend_ip_configuration {
    name                 = local.gateway_names.frontend
    public_ip_address_id = azurerm_public_ip.front.id
  }

  frontend_port {
    name = local.gateway_names.port
    port = 80
  }

  backend_address_pool {
    name = local.gateway_names.pool
  }

  # The web server answers any Host (default_server), so the probe names
  # none of its own.
  probe {
    name                = local.gateway_names.probe
    protocol            = "Http"
    host                = "127.0.0.1"
    path                = "/gtg"
    interval            = 5
    timeout             = 5
    unhealthy_threshold = 2

    match {
      status_code = ["200"]
    }
  }

  # 35 s: longer than the web server's 30 s FastCGI timeout, so the gateway
  # never cuts a request the app would still answer, and draining lets a
  # leaving instance finish what it has.
  backend_http_settings {
    name                  = local.gateway_names.settings
    protocol              = "Http"
    port                  = var.web_port
    cookie_based_affinity = "Disabled"
    request_timeout       = 35
    probe_name            = local.gateway_names.probe

    connection_draining {
      enabled           = true
      drain_timeout_sec = 35
    }
  }

  http_listener {
    name                           = local.gateway_names.listener
    frontend_ip_configuration_name = local.gateway_names.frontend
    frontend_port_name             = local.gateway_names.port
    protocol                       = "Http"
  }

  request_routing_rule {
    name                       = "app"
    priority                   = 100
    rule_type                  = "Basic"
    http_listener_name         = local.gateway_names.listener
    backend_address_pool_name  = local.gateway_names.pool
    backend_http_settings_name = local.gateway_names.settings
  }
}

resource "azurerm_lb" "front" {
  count = local.gateway ? 0 : 1

  name                = "${var.name}-lb"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  sku                 = "Standard"
  tags                = local.tags

  frontend_ip_configuration {
    name                 = "public"
    public_ip_address_id = azurerm_public_ip.front.id
  }
}

resource "azurerm_lb_backend_address_pool" "app" {
  count = local.gateway ? 0 : 1

  name            = "app"
  loadbalancer_id = azurerm_lb.front[0].id
}

resource "azurerm_lb_probe" "gtg" {
  count = local.gateway ? 0 : 1

  name                = "gtg"
  loadbalancer_id     = azurerm_lb.front[0].id
  protocol            = "Http"
  port                = var.web_port
  request_path        = "/gtg"
  interval_in_seconds = 5
  number_of_probes    = 2
}

# The instances have no outbound access of their own and need none, so
# the rule gives them none either (no SNAT through the front address).
resource "azurerm_lb_rule" "http" {
  count = local.gateway ? 0 : 1

  name                           = "http"
  loadbalancer_id                = azurerm_lb.front[0].id
  frontend_ip_configuration_name = "public"
  protocol                       = "Tcp"
  frontend_port                  = 80
  backend_port                   = var.web_port
  backend_address_pool_ids       = [azurerm_lb_backend_address_pool.app[0].id]
  probe_id                       = azurerm_lb_probe.gtg[0].id
  disable_outbound_snat          = true
  tcp_reset_enabled              = true
}
