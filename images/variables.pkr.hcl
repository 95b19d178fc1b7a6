# Settings shared by every cloud's source; each cloud's file (aws.pkr.hcl)
# holds its own source and the variables only it reads.

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
