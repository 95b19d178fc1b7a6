# AWS: an EBS-backed AMI from the latest official Debian 12 image.

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
  # starts from the image have no SSH open.
  communicator                          = "ssh"
  ssh_username                          = "admin"
  ssh_clear_authorized_keys             = true
  associate_public_ip_address           = true
  temporary_security_group_source_cidrs = var.aws_ssh_cidrs

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
