# Checks that need every id, which a mocked apply invents: a separate file
# because its provider mock must not fix values at plan time.

mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = {
      names = ["us-east-1a", "us-east-1b", "us-east-1c"]
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_ami" {
    defaults = {
      tags = { WebPort = "80" }
    }
  }

  mock_resource "aws_lb" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/candi123/0123456789abcdef"
    }
  }

  mock_resource "aws_lb_target_group" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/candi123/0123456789abcdef"
    }
  }

  mock_resource "aws_iam_instance_profile" {
    defaults = {
      arn = "arn:aws:iam::123456789012:instance-profile/candidates-instance-1"
    }
  }

  mock_resource "aws_autoscaling_policy" {
    defaults = {
      arn = "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:00000000-0000-0000-0000-000000000000:autoScalingGroupName/candidates-1:policyName/p"
    }
  }

  mock_resource "aws_launch_template" {
    defaults = {
      id = "lt-0123456789abcdef0"
    }
  }
}

variables {
  region = "us-east-1"
  ami_id = "ami-0123456789abcdef0"
}

run "group_spans_both_zones" {
  command = apply

  assert {
    condition     = aws_autoscaling_group.app[0].vpc_zone_identifier == toset(aws_subnet.private[*].id) && length(toset(aws_subnet.private[*].id)) == 2
    error_message = "The group must span both availability zones' private subnets."
  }

  assert {
    condition     = length(setintersection(toset(aws_subnet.private[*].id), toset(aws_subnet.public[*].id))) == 0
    error_message = "The instances' subnets must not be the load balancer's."
  }

  assert {
    condition     = aws_iam_role_policy.table.policy == jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = ["dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan"], Resource = aws_dynamodb_table.candidates.arn }] })
    error_message = "The table policy must name the table this deployment made."
  }

  assert {
    condition     = aws_autoscaling_group.app[0].instance_refresh[0].preferences[0].alarm_specification[0].alarms == tolist([aws_cloudwatch_metric_alarm.target_5xx.alarm_name])
    error_message = "The instance refresh must roll back on this deployment's 5xx alarm."
  }

  assert {
    condition     = aws_subnet.public[0].vpc_id == aws_vpc.this.id && aws_lb.this.subnets == toset(aws_subnet.public[*].id)
    error_message = "The load balancer must be in the VPC's subnets in both zones."
  }

  assert {
    condition     = aws_launch_template.app[0].vpc_security_group_ids == toset([aws_security_group.instances.id])
    error_message = "Instances must be in the instances' security group only."
  }

  assert {
    condition     = output.packer_subnet_id == aws_subnet.public[0].id && output.asg_name == aws_autoscaling_group.app[0].name
    error_message = "The outputs must name Packer's subnet and the group."
  }
}

run "instances_are_private" {
  command = apply

  assert {
    condition     = aws_lb.this.subnets == toset(aws_subnet.public[*].id) && alltrue([for s in concat(aws_subnet.public, aws_subnet.private) : !s.map_public_ip_on_launch])
    error_message = "The load balancer alone is in the public subnets, and no subnet gives instances a public address."
  }

  assert {
    condition     = length(aws_route_table.private.route) == 0 && alltrue([for a in aws_route_table_association.private : a.route_table_id == aws_route_table.private.id])
    error_message = "The private subnets must have no route out of the VPC."
  }

  assert {
    condition     = aws_vpc_endpoint.dynamodb.vpc_endpoint_type == "Gateway" && aws_vpc_endpoint.dynamodb.route_table_ids == toset([aws_route_table.private.id])
    error_message = "DynamoDB must be reached through a gateway endpoint on the private route table."
  }

  assert {
    condition = (
      keys(aws_vpc_endpoint.ssm) == ["ec2messages", "ssm", "ssmmessages"] &&
      alltrue([for k, e in aws_vpc_endpoint.ssm : e.service_name == "com.amazonaws.us-east-1.${k}" && e.vpc_endpoint_type == "Interface" && e.private_dns_enabled && e.subnet_ids == toset(aws_subnet.private[*].id)])
    )
    error_message = "SSM must be reached through ssm, ssmmessages and ec2messages interface endpoints with private DNS in the private subnets."
  }

  assert {
    condition = (
      aws_vpc_security_group_egress_rule.instances_to_dynamodb.prefix_list_id == aws_vpc_endpoint.dynamodb.prefix_list_id &&
      aws_vpc_security_group_egress_rule.instances_to_endpoints[0].referenced_security_group_id == aws_security_group.endpoints[0].id &&
      aws_vpc_security_group_ingress_rule.endpoints_from_instances[0].referenced_security_group_id == aws_security_group.instances.id
    )
    error_message = "The instances may call DynamoDB's endpoint and the SSM endpoints only."
  }
}
