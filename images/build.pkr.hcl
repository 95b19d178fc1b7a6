# One build, one source per cloud (aws.pkr.hcl, azure.pkr.hcl,
# gcp.pkr.hcl): every cloud's image is provisioned by the same steps, so
# they all serve the same thing. infra/deploy.sh builds one source at a
# time (-only=<source>).

locals {
  # A UTC timestamp that sorts, and is valid in every cloud's image names.
  stamp = formatdate("YYYYMMDD-hhmmss", timestamp())
  # Everything the scripts take, so the build and the test run them alike.
  provision_env = [
    "SRC=/tmp/candidates",
    "WEB=${var.web_server}",
    "WEB_PORT=${var.web_port}",
    "WEB_ADDR=${var.web_address}",
  ]
  sudo = "chmod +x {{ .Path }}; sudo env {{ .Vars }} {{ .Path }}"
}

build {
  sources = [
    "source.amazon-ebs.debian",
    "source.azure-arm.debian",
    "source.googlecompute.debian",
  ]

  # The file provisioner needs the destination's parent to exist.
  provisioner "shell" {
    inline = ["mkdir -p /tmp/candidates"]
  }

  # Only what the build needs: the app's source, the web server
  # configurations and the provisioning files; no state, no credentials.
  provisioner "file" {
    sources = [
      "${var.source_root}/Makefile",
      "${var.source_root}/fcgi-app",
      "${var.source_root}/nginx-conf",
      "${var.source_root}/lighttpd-conf",
      "${var.source_root}/images",
    ]
    destination = "/tmp/candidates/"
  }

  # Debian's cloud images log in as admin; the scripts need root.
  provisioner "shell" {
    execute_command  = local.sudo
    environment_vars = local.provision_env
    scripts = [
      "${var.source_root}/images/provision/packages.sh",
      "${var.source_root}/images/provision/app.sh",
      "${var.source_root}/images/provision/web.sh",
      "${var.source_root}/images/provision/units.sh",
    ]
  }

  # The store the image serves as shipped, which is what an instance
  # serves if its user data never runs: a cloud's image names its cloud's
  # shared store, so such an instance serves the same data as the others
  # or fails its health check, never a SQLite file of its own behind the
  # load balancer. A new cloud's source gets its own step here and joins
  # the except list of the last one.
  provisioner "shell" {
    only             = ["amazon-ebs.debian"]
    execute_command  = local.sudo
    environment_vars = ["STORE=dynamodb"]
    script           = "${var.source_root}/images/provision/store.sh"
  }

  provisioner "shell" {
    only             = ["azure-arm.debian"]
    execute_command  = local.sudo
    environment_vars = ["STORE=cosmos"]
    script           = "${var.source_root}/images/provision/store.sh"
  }

  provisioner "shell" {
    only             = ["googlecompute.debian"]
    execute_command  = local.sudo
    environment_vars = ["STORE=firestore"]
    script           = "${var.source_root}/images/provision/store.sh"
  }

  provisioner "shell" {
    except           = ["amazon-ebs.debian", "azure-arm.debian", "googlecompute.debian"]
    execute_command  = local.sudo
    environment_vars = ["STORE=${var.store}"]
    script           = "${var.source_root}/images/provision/store.sh"
  }

  provisioner "shell" {
    only             = ["amazon-ebs.debian"]
    execute_command  = local.sudo
    environment_vars = ["SRC=/tmp/candidates", "AWS_REGION=${var.aws_region}"]
    script           = "${var.source_root}/images/provision/aws-ssm-agent.sh"
  }

  provisioner "shell" {
    execute_command  = local.sudo
    environment_vars = local.provision_env
    script           = "${var.source_root}/images/provision/cleanup.sh"
  }

  # Last, as Azure prescribes for an image that many VMs start from: the
  # Azure Linux agent generalises the VM (SSH host keys, the build's user
  # and its home, cached leases and logs go) so each instance is
  # provisioned anew by cloud-init and the agent. Nothing runs after it.
  provisioner "shell" {
    only            = ["azure-arm.debian"]
    execute_command = local.sudo
    inline          = ["/usr/sbin/waagent -force -deprovision+user && export HISTSIZE=0 && sync"]
  }

  # infra/deploy.sh reads the new image's id from here.
  post-processor "manifest" {
    output     = "${var.source_root}/build/packer-manifest.json"
    strip_path = true
  }
}
