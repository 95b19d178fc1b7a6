# GCP: an image in the deployment's image family, from the newest image of
# Debian's debian-12 family in the debian-cloud project, and the variables
# only this source reads. infra/gcp's outputs name the network to build
# in; infra/deploy.sh passes them here.

variable "gcp_project" {
  type        = string
  description = "The project the image is built and kept in: Terraform's project output. Required for a GCP build."
  default     = ""
}

variable "gcp_zone" {
  type        = string
  description = "The zone the build instance runs in: the first of Terraform's zones output."
  default     = "us-central1-a"
}

variable "gcp_machine_type" {
  type        = string
  description = "The build instance's machine type; x86_64, like Debian's image."
  default     = "e2-small"
}

variable "gcp_network" {
  type        = string
  description = "The network the build instance runs in: Terraform's network output; empty for the project's default network."
  default     = ""
}

# With a subnet that infra/gcp made for the build (image_build_access), the
# build instance has no external address: it reaches Debian's mirrors
# through Cloud NAT and Packer reaches it through Identity-Aware Proxy,
# whose range alone may open its SSH port.
variable "gcp_subnetwork" {
  type        = string
  description = "The build subnet (Terraform's build_subnetwork output, with image_build_access=true): the build instance then has no external IP and Packer connects through IAP. Empty: an external IP on gcp_network."
  default     = ""
}

variable "gcp_build_tag" {
  type        = string
  description = "The network tag the build subnet's IAP SSH rule admits: Terraform's build_tag output."
  default     = "candidates-packer-build"
}

locals {
  gcp_private = var.gcp_subnetwork != ""
}

source "googlecompute" "debian" {
  project_id   = var.gcp_project
  zone         = var.gcp_zone
  machine_type = var.gcp_machine_type
  disk_size    = 10

  # Debian's own images: the newest of the debian-12 family.
  source_image_family     = "debian-12"
  source_image_project_id = ["debian-cloud"]

  network          = var.gcp_network
  subnetwork       = var.gcp_subnetwork
  tags             = local.gcp_private ? [var.gcp_build_tag] : []
  omit_external_ip = local.gcp_private
  use_internal_ip  = local.gcp_private
  use_iap          = local.gcp_private

  # A throw-away key in the instance's metadata, removed from the image
  # with the build; the group's instances have OS Login and no SSH rule.
  communicator              = "ssh"
  ssh_username              = "packer"
  ssh_clear_authorized_keys = true

  # The family is named for the deployment: its instance template takes
  # the family's newest image (infra/gcp, image_family).
  image_name        = "${var.deployment}-${local.stamp}"
  image_family      = var.deployment
  image_description = "candidates API (${var.web_server}) on Debian 12"

  # What the image is and was made from. Label values are lower-case
  # letters, digits, dashes and underscores: a commit id is.
  image_labels = {
    project    = var.deployment
    web_server = var.web_server
    web_port   = var.web_port
    built_at   = local.stamp
    git_commit = var.git_commit
  }
}
