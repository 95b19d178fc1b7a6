variable "project" {
  description = "The Google Cloud project everything is created in."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project))
    error_message = "The project must be a project ID: 6 to 30 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "region" {
  description = "The region of the subnet and the instance group (the instances spread over its zones)."
  type        = string
  default     = "us-central1"
}

variable "name" {
  description = "Prefix of every resource's name, and the project label: two deployments with different names live side by side in one project (but share the project's Firestore database unless firestore_database differs)."
  type        = string
  default     = "candidates"

  validation {
    # Service account ids are at most 30 characters: name and "-instances".
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name))
    error_message = "The name must be 1 to 20 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "labels" {
  description = "Labels added to every resource that takes them, beside project = name."
  type        = map(string)
  default     = {}
}

# Network

variable "subnet_cidr" {
  description = "The instances' subnet."
  type        = string
  default     = "10.70.0.0/24"

  validation {
    condition     = can(cidrhost(var.subnet_cidr, 0)) && try(tonumber(split("/", var.subnet_cidr)[1]) <= 28, false)
    error_message = "The subnet_cidr must be a CIDR block of /28 or larger."
  }
}

variable "build_subnet_cidr" {
  description = "The image build's subnet (with image_build_access), apart from the instances'."
  type        = string
  default     = "10.70.1.0/24"

  validation {
    condition     = can(cidrhost(var.build_subnet_cidr, 0)) && try(tonumber(split("/", var.build_subnet_cidr)[1]) <= 29, false)
    error_message = "The build_subnet_cidr must be a CIDR block of /29 or larger."
  }
}

variable "web_port" {
  description = "The port the web server listens on in the image (Packer's web_port): the named port, the health check's and the only one the firewall opens, to Google's front ends."
  type        = number
  default     = 80

  validation {
    condition     = var.web_port >= 1 && var.web_port <= 65535 && floor(var.web_port) == var.web_port
    error_message = "The web_port must be a TCP port, 1 to 65535."
  }
}

variable "image_build_access" {
  description = "For the image phase: a build subnet with Cloud NAT (for apt) and SSH from Identity-Aware Proxy's range only, so that Packer builds without a public IP. The instances' subnet gets neither."
  type        = bool
  default     = false
}

# Data

variable "firestore_database" {
  description = "The Firestore database id (FIRESTORE_DATABASE): (default), the original's, or a named one."
  type        = string
  default     = "(default)"

  validation {
    condition     = var.firestore_database == "(default)" || can(regex("^[a-z][a-z0-9-]{2,61}[a-z0-9]$", var.firestore_database))
    error_message = "The firestore_database must be (default) or 4 to 63 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "firestore_location" {
  description = "The Firestore database's location; empty for the deployment's region. A multi-region such as nam5 or eur3 is also possible."
  type        = string
  default     = ""
}

# Instances (the third phase: set image_family)

variable "image_family" {
  description = "The image family Packer builds into; the instances run its latest image. Empty (the first phase, before Packer has built one): no instance template and no instance group yet."
  type        = string
  default     = ""

  validation {
    condition     = var.image_family == "" || can(regex("^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", var.image_family))
    error_message = "The image_family must be empty or a family name: lower-case letters, digits and dashes."
  }
}

variable "image_project" {
  description = "The project that holds the image family; empty for var.project."
  type        = string
  default     = ""
}

variable "machine_type" {
  description = "The instances' machine type (x86_64, like the image)."
  type        = string
  default     = "e2-small"
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

variable "autohealing_initial_delay" {
  description = "Seconds a new instance has to boot, run its startup script and answer /gtg before autohealing may recreate it."
  type        = number
  default     = 180

  validation {
    condition     = var.autohealing_initial_delay >= 60 && var.autohealing_initial_delay <= 3600
    error_message = "The autohealing_initial_delay must be 60 to 3600 seconds: less recreates instances still booting."
  }
}

# Scaling: the original's policy

variable "min_replicas" {
  description = "The fewest instances the autoscaler keeps."
  type        = number
  default     = 2

  validation {
    condition     = var.min_replicas >= 1
    error_message = "The min_replicas must be at least 1."
  }
}

variable "max_replicas" {
  description = "The most instances the autoscaler adds (at least min_replicas)."
  type        = number
  default     = 4

  validation {
    condition     = var.max_replicas >= 1 && var.max_replicas <= 100
    error_message = "The max_replicas must be 1 to 100."
  }
}

variable "cpu_target" {
  description = "The average CPU utilisation the autoscaler keeps the group near, as a fraction."
  type        = number
  default     = 0.6

  validation {
    condition     = var.cpu_target > 0 && var.cpu_target <= 1
    error_message = "The cpu_target must be a fraction above 0 and at most 1 (0.6 is 60 %)."
  }
}

variable "cooldown" {
  description = "Seconds the autoscaler waits for a new instance to initialise before it uses its CPU."
  type        = number
  default     = 60
}
