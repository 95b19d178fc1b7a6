variable "subscription_id" {
  description = "The Azure subscription; empty to take it from ARM_SUBSCRIPTION_ID (azurerm 4 requires one or the other)."
  type        = string
  default     = ""

  validation {
    condition     = var.subscription_id == "" || can(regex("^[0-9a-fA-F-]{36}$", var.subscription_id))
    error_message = "The subscription_id must be empty or a subscription GUID."
  }
}

variable "location" {
  description = "The Azure region everything is created in; it must have availability zones (the scale set, gateway and addresses spread over them)."
  type        = string
  default     = "eastus"
}

variable "name" {
  description = "Prefix of every resource's name, and the Project tag: two deployments with different names live side by side in one subscription."
  type        = string
  default     = "candidates"

  validation {
    # The Cosmos DB account name (name, a dash and 8 characters) must stay
    # within 44 characters, and gallery names cannot hold dashes (they are
    # turned into underscores there).
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name))
    error_message = "The name must be 1 to 20 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "tags" {
  description = "Tags added to every resource, beside Project = name."
  type        = map(string)
  default     = {}
}

# Network

variable "address_space" {
  description = "The virtual network's range; the gateway, the instances and the private endpoint each get a /24 of it."
  type        = string
  default     = "10.60.0.0/16"

  validation {
    condition     = can(cidrhost(var.address_space, 0)) && try(tonumber(split("/", var.address_space)[1]) <= 22, false)
    error_message = "The address_space must be a CIDR block of /22 or larger."
  }
}

variable "zones" {
  description = "The availability zones the scale set, the gateway and the public address span."
  type        = list(string)
  default     = ["1", "2", "3"]

  validation {
    condition     = length(var.zones) > 0 && alltrue([for z in var.zones : contains(["1", "2", "3"], z)])
    error_message = "The zones must be a non-empty list of \"1\", \"2\" and \"3\"."
  }
}

variable "front" {
  description = "What faces the internet: application-gateway (the original's Application Gateway v2) or load-balancer (the portal guide's Standard public load balancer, about a tenth of the price)."
  type        = string
  default     = "application-gateway"

  validation {
    condition     = contains(["application-gateway", "load-balancer"], var.front)
    error_message = "The front must be application-gateway or load-balancer."
  }
}

variable "web_port" {
  description = "The port the web server listens on in the image (Packer's web_port): the front's backend port, the health probes' and the only port the instances' subnet admits."
  type        = number
  default     = 80

  validation {
    condition     = var.web_port >= 1 && var.web_port <= 65535 && floor(var.web_port) == var.web_port
    error_message = "The web_port must be a TCP port, 1 to 65535."
  }
}

# Data

variable "cosmos_allow_keys" {
  description = "Allow the Cosmos DB account's keys (local authentication) besides Microsoft Entra tokens: for trials from a laptop, never in production. The instances always use their managed identity."
  type        = bool
  default     = false
}

variable "cosmos_allowed_ips" {
  description = "Addresses (CIDR) allowed to reach the Cosmos DB account over the internet, for trials from a laptop. Empty (the default): public network access is off and only the private endpoint reaches it."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.cosmos_allowed_ips : can(cidrhost(c, 0))])
    error_message = "Each of cosmos_allowed_ips must be a CIDR block such as 203.0.113.7/32."
  }
}

# Instances (the third phase: set image_version)

variable "image_version" {
  description = "Which version of the gallery image the scale set runs: empty (the first phase: no scale set yet, because Packer has not built an image), latest, or a version such as 1.0.20250101."
  type        = string
  default     = ""

  validation {
    condition     = contains(["", "latest"], var.image_version) || can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.image_version))
    error_message = "The image_version must be empty, latest, or a gallery version MAJOR.MINOR.PATCH."
  }
}

variable "vm_size" {
  description = "The instances' size (x64 and Gen2, like the image)."
  type        = string
  default     = "Standard_B1s"
}

variable "admin_ssh_public_key" {
  description = "An SSH public key for the instances' admin user, which Azure requires on a Linux scale set (needed with image_version). No rule admits SSH: the key serves only through Azure Bastion or a rule you add yourself."
  type        = string
  default     = ""

  validation {
    condition     = var.admin_ssh_public_key == "" || can(regex("^(ssh-rsa|ssh-ed25519) [A-Za-z0-9+/=]+", var.admin_ssh_public_key))
    error_message = "The admin_ssh_public_key must be an OpenSSH ssh-rsa or ssh-ed25519 public key."
  }
}

variable "app_threads" {
  description = "The app's worker threads per instance (CANDIDATES_THREADS)."
  type        = number
  default     = 16

  validation {
    condition     = var.app_threads >= 1 && var.app_threads <= 1024 && floor(var.app_threads) == var.app_threads
    error_message = "The app_threads must be a whole number from 1 to 1024, as the app accepts."
  }
}

variable "rolling_upgrade_surge" {
  description = "Roll a new image out by creating each batch's new instances before deleting old ones (MaxSurge), so capacity never drops. Where Azure still calls MaxSurge a preview, the subscription needs the feature Microsoft.Compute/MaxSurgeRollingUpgrade registered. false: upgrade in place, half the instances at a time."
  type        = bool
  default     = true
}

# Scaling

variable "autoscale_rules" {
  description = "original: the Flask original's rules (CPU above 60 % adds one, below 60 % removes one, 1-minute cooldowns, 2 to 4 instances). portal: the portal guide's (above 75 % adds one, below 20 % removes one, 2 to 3 instances)."
  type        = string
  default     = "original"

  validation {
    condition     = contains(["original", "portal"], var.autoscale_rules)
    error_message = "The autoscale_rules must be original or portal."
  }
}
