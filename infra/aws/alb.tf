# The public entry: an Application Load Balancer that health-checks /gtg
# (which never touches the store, so a database outage does not empty the
# target group) and drains leaving instances.

locals {
  https = var.certificate_arn != ""
}

resource "aws_lb" "this" {
  name_prefix                = substr(var.name, 0, 6)
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = aws_subnet.public[*].id
  security_groups            = [aws_security_group.alb.id]
  idle_timeout               = var.idle_timeout
  drop_invalid_header_fields = true

  # Access logs, when a bucket is given (README.md says what its policy
  # must allow).
  access_logs {
    enabled = var.access_logs_bucket != ""
    bucket  = var.access_logs_bucket
    prefix  = var.name
  }

  tags = { Name = var.name }

  # An internet-facing load balancer fails to create ("VPC has no internet
  # gateway") if it comes before the gateway is attached and routed; nothing
  # in its arguments says so, hence the explicit order.
  depends_on = [aws_internet_gateway.this, aws_route_table_association.public]
}

resource "aws_lb_target_group" "app" {
  name_prefix          = substr(var.name, 0, 6)
  vpc_id               = aws_vpc.this.id
  target_type          = "instance"
  protocol             = "HTTP"
  port                 = var.web_port
  deregistration_delay = var.deregistration_delay

  health_check {
    path                = "/gtg"
    matcher             = "200"
    protocol            = "HTTP"
    port                = "traffic-port"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = { Name = var.name }

  lifecycle {
    create_before_destroy = true
  }
}

# Plain HTTP forwards to the instances without a certificate, and
# redirects to HTTPS with one.
resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = local.https ? "redirect" : "forward"
    target_group_arn = local.https ? null : aws_lb_target_group.app.arn

    dynamic "redirect" {
      for_each = local.https ? [1] : []
      content {
        protocol    = "HTTPS"
        port        = "443"
        status_code = "HTTP_301"
      }
    }
  }
}

resource "aws_lb_listener" "https" {
  count = local.https ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app.arn
  }
}
