# The store: a serverless Cosmos DB for NoSQL account holding the
# original's database and container, so a container the Flask original
# wrote is served unchanged. Only the scale set's identity may touch its
# data, and only through a private endpoint in the virtual network.

resource "azurerm_cosmosdb_account" "this" {
  name                = "${var.name}-${local.suffix}"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  offer_type          = "Standard"
  kind                = "GlobalDocumentDB"
  minimal_tls_version = "Tls12"
  tags                = local.tags

  # Keys are for trials only; in production every caller is a Microsoft
  # Entra identity with a data-plane role (below).
  local_authentication_disabled = !var.cosmos_allow_keys

  # Private endpoint only, unless addresses are given for a trial.
  public_network_access_enabled = length(var.cosmos_allowed_ips) > 0
  ip_range_filter               = var.cosmos_allowed_ips

  capabilities {
    name = "EnableServerless"
  }

  # Strong: a write one instance acknowledged is read at once by every
  # other (the contract's read-your-write across instances, like
  # DynamoDB's ConsistentRead). A session token would cover one client
  # only. In one region it costs reads about twice the RUs of Session.
  consistency_policy {
    consistency_level = "Strong"
  }

  geo_location {
    location          = azurerm_resource_group.this.location
    failover_priority = 0
  }

  # Point-in-time restore of the last 7 days, whose backup storage Azure
  # does not charge for (only a restore is charged).
  backup {
    type = "Continuous"
    tier = "Continuous7Days"
  }
}

resource "azurerm_cosmosdb_sql_database" "candidates" {
  name                = "CandidateDatabase"
  resource_group_name = azurerm_resource_group.this.name
  account_name        = azurerm_cosmosdb_account.this.name
}

# Partition key version 2 hashes the whole name (version 1 only its first
# 100 bytes), and is what the portal and the SDKs create today.
resource "azurerm_cosmosdb_sql_container" "candidates" {
  name                  = "Candidates"
  resource_group_name   = azurerm_resource_group.this.name
  account_name          = azurerm_cosmosdb_account.this.name
  database_name         = azurerm_cosmosdb_sql_database.candidates.name
  partition_key_paths   = ["/CandidateName"]
  partition_key_version = 2
}

# The built-in Cosmos DB Built-in Data Contributor (read and write items,
# no account or container management), for the instances' identity only,
# on this one container.
resource "azurerm_cosmosdb_sql_role_assignment" "app" {
  resource_group_name = azurerm_resource_group.this.name
  account_name        = azurerm_cosmosdb_account.this.name
  role_definition_id  = "${azurerm_cosmosdb_account.this.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002"
  principal_id        = azurerm_user_assigned_identity.app.principal_id
  scope               = "${azurerm_cosmosdb_account.this.id}/dbs/${azurerm_cosmosdb_sql_database.candidates.name}/colls/${azurerm_cosmosdb_sql_container.candidates.name}"
}

# A private endpoint rather than a service endpoint: with it the account
# takes no traffic from the internet at all (public network access off),
# where a service endpoint keeps the public endpoint open and filters it.
# It costs about $7.30 a month plus $0.01 a GB, and the private DNS zone
# $0.50, a few percent of the gateway. The zone makes the account's usual
# name resolve to the endpoint's private address inside the virtual
# network, so COSMOS_ENDPOINT is the account's ordinary endpoint.
resource "azurerm_private_dns_zone" "cosmos" {
  name                = "privatelink.documents.azure.com"
  resource_group_name = azurerm_resource_group.this.name
  tags                = local.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "cosmos" {
  name                  = "${var.name}-cosmos"
  resource_group_name   = azurerm_resource_group.this.name
  private_dns_zone_name = azurerm_private_dns_zone.cosmos.name
  virtual_network_id    = azurerm_virtual_network.this.id
  tags                  = local.tags
}

resource "azurerm_private_endpoint" "cosmos" {
  name                = "${var.name}-cosmos"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  subnet_id           = azurerm_subnet.endpoints.id
  tags                = local.tags

  private_service_connection {
    name                           = "${var.name}-cosmos"
    private_connection_resource_id = azurerm_cosmosdb_account.this.id
    subresource_names              = ["Sql"]
    is_manual_connection           = false
  }

  private_dns_zone_group {
    name                 = "cosmos"
    private_dns_zone_ids = [azurerm_private_dns_zone.cosmos.id]
  }
}
