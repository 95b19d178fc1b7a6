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
    condition     = aws_autoscaling_group.app[0].vpc_zone_identifier == toset(aws_subnet.public[*].id) && length(toset(aws_subnet.public[*].id)) == 2
    error_message = "The group must span both availability zones' subnets."
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
