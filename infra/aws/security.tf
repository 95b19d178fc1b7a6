# Who may talk to whom: the world to the load balancer on 80 (and 443),
# the load balancer to the instances on the web server's port, and nothing
# else in. Out of the instances, HTTPS to DynamoDB's gateway endpoint and
# to the SSM endpoints only. No SSH anywhere: operators use SSM Session
# Manager.

resource "aws_security_group" "alb" {
  name_prefix = "${var.name}-alb-"
  description = "The load balancer: HTTP(S) from anywhere"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-alb" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from anywhere"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  count = var.certificate_arn == "" ? 0 : 1

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from anywhere"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "alb_to_instances" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Requests and health checks to the instances"
  ip_protocol                  = "tcp"
  from_port                    = var.web_port
  to_port                      = var.web_port
  referenced_security_group_id = aws_security_group.instances.id
}

resource "aws_security_group" "instances" {
  name_prefix = "${var.name}-instances-"
  description = "The instances: the web server's port from the load balancer only"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-instances" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "instances_from_alb" {
  security_group_id            = aws_security_group.instances.id
  description                  = "The web server, from the load balancer only"
  ip_protocol                  = "tcp"
  from_port                    = var.web_port
  to_port                      = var.web_port
  referenced_security_group_id = aws_security_group.alb.id
}

# HTTPS to DynamoDB, through the gateway endpoint: its prefix list is
# DynamoDB's regional addresses, which only that endpoint routes to.
resource "aws_vpc_security_group_egress_rule" "instances_to_dynamodb" {
  security_group_id = aws_security_group.instances.id
  description       = "DynamoDB, through the gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = aws_vpc_endpoint.dynamodb.prefix_list_id
}

resource "aws_vpc_security_group_egress_rule" "instances_to_endpoints" {
  count = var.ssm_endpoints ? 1 : 0

  security_group_id            = aws_security_group.instances.id
  description                  = "The SSM interface endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints[0].id
}

resource "aws_security_group" "endpoints" {
  count = var.ssm_endpoints ? 1 : 0

  name_prefix = "${var.name}-endpoints-"
  description = "The SSM interface endpoints: HTTPS from the instances only"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-endpoints" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_instances" {
  count = var.ssm_endpoints ? 1 : 0

  security_group_id            = aws_security_group.endpoints[0].id
  description                  = "HTTPS from the instances"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.instances.id
}
