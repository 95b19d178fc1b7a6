# The third phase: the launch template and the Auto Scaling Group, once
# Packer has built an image. Until then neither exists.
#
# The image is found in AWS itself: the newest AMI of this account tagged
# Project=<name> (Packer's tag, images/aws.pkr.hcl), unless var.ami_id
# names one. No file on the operator's machine records it, so a lost
# checkout or a second operator plans the same group.

data "aws_ami_ids" "deployment" {
  owners = ["self"]

  filter {
    name   = "tag:Project"
    values = [var.name]
  }

  filter {
    name   = "state"
    values = ["available"]
  }
}

locals {
  # aws_ami_ids lists the newest first.
  ami_id  = var.ami_id != "" ? var.ami_id : try(data.aws_ami_ids.deployment.ids[0], "")
  serving = local.ami_id != ""
}

# The chosen image's tags: it says which port its web server listens on.
data "aws_ami" "app" {
  count = local.serving ? 1 : 0

  owners = ["self"]

  filter {
    name   = "image-id"
    values = [local.ami_id]
  }
}

resource "aws_launch_template" "app" {
  count = local.serving ? 1 : 0

  name_prefix            = "${var.name}-"
  description            = "candidates API from ${local.ami_id}"
  image_id               = local.ami_id
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.instances.id]
  update_default_version = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.instance.arn
  }

  # IMDSv2 only, and one hop: a token cannot be fetched from a container or
  # through a forwarding process on the instance.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_type           = "gp3"
      volume_size           = 8
      encrypted             = true
      delete_on_termination = true
    }
  }

  # One-minute CPU metrics, which the step policy's alarms evaluate.
  monitoring {
    enabled = true
  }

  user_data = base64encode(templatefile("${path.module}/user_data.yaml.tftpl", {
    table   = aws_dynamodb_table.candidates.name
    region  = var.region
    threads = var.app_threads
  }))

  tag_specifications {
    resource_type = "instance"
    tags          = merge({ Name = var.name, Project = var.name }, var.tags)
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge({ Name = var.name, Project = var.name }, var.tags)
  }

  lifecycle {
    # The port is chosen once, in var.web_port: deploy.sh hands it to
    # Packer, which tags the image with it. An image built for another port
    # would fail every health check and be replaced forever.
    precondition {
      condition     = lookup(data.aws_ami.app[0].tags, "WebPort", "") == tostring(var.web_port)
      error_message = "The image ${local.ami_id} listens on port ${lookup(data.aws_ami.app[0].tags, "WebPort", "(no WebPort tag)")}, but web_port is ${var.web_port}: build the image again with infra/deploy.sh aws apply, which passes web_port to Packer."
    }
  }
}

resource "aws_autoscaling_group" "app" {
  count = local.serving ? 1 : 0

  name_prefix         = "${var.name}-"
  vpc_zone_identifier = aws_subnet.private[*].id
  target_group_arns   = [aws_lb_target_group.app.arn]

  min_size         = var.min_size
  desired_capacity = var.desired_capacity
  max_size         = var.max_size

  # The load balancer's /gtg decides whether an instance is healthy, once
  # it has had time to boot.
  health_check_type         = "ELB"
  health_check_grace_period = var.health_check_grace_period
  default_instance_warmup   = var.instance_warmup

  # A pinned version, not $Latest: a new image is a new template version,
  # which Terraform sees as a change and which starts the refresh below.
  launch_template {
    id      = aws_launch_template.app[0].id
    version = aws_launch_template.app[0].latest_version
  }

  # A new image rolls through the group launching before terminating: the
  # group may grow to twice its size and never has fewer healthy instances
  # than it wants. If new instances fail their health checks, or the
  # target group's 5xx alarm goes off during the roll, AWS stops it and
  # brings the previous template version back.
  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 100
      max_healthy_percentage = 200
      instance_warmup        = var.instance_warmup
      auto_rollback          = true

      alarm_specification {
        alarms = [aws_cloudwatch_metric_alarm.target_5xx.alarm_name]
      }
    }
  }

  enabled_metrics = [
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupMaxSize",
    "GroupMinSize",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
  ]

  tag {
    key                 = "Name"
    value               = var.name
    propagate_at_launch = true
  }

  lifecycle {
    # Scaling owns the desired capacity once the group exists; an apply
    # must not reset it to the variable's value in the middle of a peak.
    ignore_changes = [desired_capacity]
  }
}
