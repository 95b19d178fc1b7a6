# Settings shared by every cloud's source; each source adds its own below.

variable "source_root" {
  type        = string
  description = "The repository checkout whose app, web server configurations and provisioning scripts go into the image. Relative paths are relative to where packer runs; infra/deploy.sh passes an absolute one."
  default     = "."
}

variable "web_server" {
  type        = string
  description = "The web server in front of the app: nginx or lighttpd (its configuration comes from nginx-conf/ or lighttpd-conf/)."
  default     = "nginx"
}

# infra/deploy.sh passes Terraform's web_port (infra/aws/variables.tf), the
# one place the port is chosen; the image is tagged WebPort with it, and
# Terraform refuses an image tagged with another.
variable "web_port" {
  type        = number
  description = "The port the web server listens on: Terraform's web_port, which infra/deploy.sh passes; the AMI is tagged WebPort=<port>."
  default     = 80
}

variable "web_address" {
  type        = string
  description = "The address the web server listens on; the tests that run the provisioning on this machine use 127.0.0.1."
  default     = "0.0.0.0"
}

# A cloud's image names its own cloud's store (build.pkr.hcl), whatever
# this says.
variable "store" {
  type        = string
  description = "The store an image for no cloud serves until something rewrites /etc/default/candidates (the provisioning test's Debian root): sqlite, or a store the app has a module for."
  default     = "sqlite"
}

# The same name as Terraform's var.name (infra/aws), which tags everything
# Terraform makes Project=<name>: the image carries that tag too, so that
# destroying one deployment removes its own images and no one else's.
variable "deployment" {
  type        = string
  description = "The deployment the image belongs to: Terraform's var.name (infra/deploy.sh passes it). The AMI and its snapshots are tagged Project=<deployment>."
  default     = "candidates"
}

variable "git_commit" {
  type        = string
  description = "The commit of the source the image is built from (infra/deploy.sh passes git's HEAD, with -dirty when the work tree has changes); the AMI is tagged GitCommit with it."
  default     = "unknown"
}

variable "image_name" {
  type        = string
  description = "The image name's prefix; a UTC timestamp is appended so every build is a new image."
  default     = "candidates"
}

# AWS

variable "aws_region" {
  type        = string
  description = "The region the AMI is built and registered in."
  default     = "us-east-1"
}

variable "aws_subnet_id" {
  type        = string
  description = "The public subnet the build instance runs in: the one the first Terraform phase made (terraform output packer_subnet_id)."
  default     = ""
}

variable "aws_instance_type" {
  type        = string
  description = "The build instance's type; x86_64, like the Debian AMI the source filters for."
  default     = "t3.small"
}

# No default that opens SSH to the world: a direct `packer build` must say
# who may connect, as infra/deploy.sh does with the caller's address.
variable "aws_ssh_cidrs" {
  type        = list(string)
  description = "Who may reach the build instance's temporary SSH port: the address packer runs from, as a /32 (infra/deploy.sh finds it). Required, e.g. -var 'aws_ssh_cidrs=[\"203.0.113.7/32\"]'."
  default     = []

  # Packer 1.6.6 has no alltrue(): every CIDR must parse.
  validation {
    condition     = length(var.aws_ssh_cidrs) > 0 && length([for c in var.aws_ssh_cidrs : c if can(cidrhost(c, 0))]) == length(var.aws_ssh_cidrs)
    error_message = "The aws_ssh_cidrs variable must list who may reach the build instance's SSH port, as CIDRs: pass -var 'aws_ssh_cidrs=[\"YOUR.IP/32\"]' (infra/deploy.sh does)."
  }
}
