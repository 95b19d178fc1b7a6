# AWS: an EBS-backed AMI from the latest official Debian 12 image, and the
# variables only this source reads.

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

# No default that opens SSH to the world: the source refuses an empty list
# (below), so a direct `packer build` must say who may connect, as
# infra/deploy.sh does with the caller's address. The check is the
# source's, not a validation block's: Packer checks every variable's
# validation whichever source it builds, and an Azure or GCP build has no
# AWS address to give.
variable "aws_ssh_cidrs" {
  type        = list(string)
  description = "Who may reach the build instance's temporary SSH port: the address packer runs from, as a /32 (infra/deploy.sh finds it). Required for an AWS build, e.g. -var 'aws_ssh_cidrs=[\"203.0.113.7/32\"]'."
  default     = []

  # Packer 1.6.6 has no alltrue(): every CIDR given must parse.
  validation {
    condition     = length([for c in var.aws_ssh_cidrs : c if can(cidrhost(c, 0))]) == length(var.aws_ssh_cidrs)
    error_message = "The aws_ssh_cidrs variable must list CIDRs, such as [\"203.0.113.7/32\"]."
  }
}

source "amazon-ebs" "debian" {
  region        = var.aws_region
  instance_type = var.aws_instance_type
  subnet_id     = var.aws_subnet_id

  # Debian's own account publishes the official cloud images.
  source_ami_filter {
    filters = {
      name                = "debian-12-amd64-*"
      architecture        = "x86_64"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = ["136693071363"]
    most_recent = true
  }

  # The build instance is reached over SSH with a throw-away key pair, only
  # from the address packer runs from, and only while the build lasts; the
  # key leaves the image with it. The instances the Auto Scaling Group
  # starts from the image have no SSH open. An empty aws_ssh_cidrs would
  # open the port to the world, so it becomes a CIDR Packer refuses, with
  # the variable's name in the error.
  communicator                          = "ssh"
  ssh_username                          = "admin"
  ssh_clear_authorized_keys             = true
  associate_public_ip_address           = true
  temporary_security_group_source_cidrs = length(var.aws_ssh_cidrs) > 0 ? var.aws_ssh_cidrs : ["aws_ssh_cidrs-is-not-set"]

  ami_name        = "${var.image_name}-${local.stamp}"
  ami_description = "candidates API (${var.web_server}) on Debian 12"
  encrypt_boot    = true

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 8
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    delete_on_termination = true
  }

  # What the image is and was made from. Terraform finds the deployment's
  # newest image by Project and refuses one whose WebPort is not its own
  # (infra/aws/compute.tf).
  tags = {
    Name       = "${var.image_name}-${local.stamp}"
    Project    = var.deployment
    WebServer  = var.web_server
    WebPort    = var.web_port
    BuiltAt    = local.stamp
    GitCommit  = var.git_commit
    SourceAMI  = "{{ .SourceAMI }}"
    SourceName = "{{ .SourceAMIName }}"
  }
  snapshot_tags = {
    Name    = "${var.image_name}-${local.stamp}"
    Project = var.deployment
  }
}
