# Plan-time checks of what must hold in any account, run offline by
# `make test` (tests/e2e/terraform.test.js): mocked AWS, no credentials.

mock_provider "aws" {
  # Ids and ARNs get values at plan time, so references can be compared.
  override_during = plan

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

  # No image of this deployment yet, unless a run says otherwise.
  mock_data "aws_ami_ids" {
    defaults = {
      ids = []
    }
  }

  mock_data "aws_ami" {
    defaults = {
      tags = { WebPort = "80" }
    }
  }

  mock_resource "aws_sns_topic" {
    defaults = {
      arn = "arn:aws:sns:us-east-1:123456789012:candidates-alarms"
    }
  }

  mock_resource "aws_dynamodb_table" {
    defaults = {
      arn = "arn:aws:dynamodb:us-east-1:123456789012:table/Candidates"
    }
  }

  mock_resource "aws_lb" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/candi123/0123456789abcdef"
      arn_suffix = "app/candi123/0123456789abcdef"
      dns_name   = "candi123-1.us-east-1.elb.amazonaws.com"
    }
  }

  mock_resource "aws_lb_target_group" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/candi123/0123456789abcdef"
      arn_suffix = "targetgroup/candi123/0123456789abcdef"
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
      id             = "lt-0123456789abcdef0"
      latest_version = 3
    }
  }
}

# Distinct ids, so a rule that names the wrong group cannot pass.
override_resource {
  target          = aws_security_group.alb
  override_during = plan
  values = {
    id = "sg-0a1b0a1b0a1b0a1b0"
  }
}

override_resource {
  target          = aws_security_group.instances
  override_during = plan
  values = {
    id = "sg-0c2d0c2d0c2d0c2d0"
  }
}

variables {
  region = "us-east-1"
}

run "phase_1_makes_no_instances" {
  command = plan

  assert {
    condition     = length(aws_launch_template.app) == 0 && length(aws_autoscaling_group.app) == 0
    error_message = "Without ami_id there must be no launch template and no group."
  }

  assert {
    condition     = length(aws_subnet.public) == 2 && length(distinct(aws_subnet.public[*].availability_zone)) == 2 && aws_subnet.private[*].availability_zone == aws_subnet.public[*].availability_zone
    error_message = "The public and private subnets must span the same two availability zones."
  }

  assert {
    condition     = aws_dynamodb_table.candidates.name == "Candidates" && aws_dynamodb_table.candidates.hash_key == "CandidateName"
    error_message = "The table must be Candidates with hash key CandidateName, as the original's."
  }

  assert {
    condition     = aws_dynamodb_table.candidates.deletion_protection_enabled == true
    error_message = "The table must refuse deletion by default."
  }

  assert {
    condition     = output.ami_id == "" && output.table_name == "Candidates"
    error_message = "Without an image of this deployment, phase 1 must report none."
  }

  assert {
    condition     = aws_dynamodb_table.candidates.billing_mode == "PAY_PER_REQUEST" && aws_dynamodb_table.candidates.point_in_time_recovery[0].enabled
    error_message = "The table must be on demand with point-in-time recovery."
  }

  assert {
    condition     = output.asg_name == "" && output.url == "http://candi123-1.us-east-1.elb.amazonaws.com"
    error_message = "Phase 1 must report the load balancer's URL and no group."
  }

  assert {
    condition     = output.name == "candidates"
    error_message = "Phase 1 must report the deployment's name, which deploy.sh tags the images with."
  }
}

run "health_check_is_gtg" {
  command = plan

  assert {
    condition     = aws_lb_target_group.app.health_check[0].path == "/gtg" && aws_lb_target_group.app.health_check[0].matcher == "200"
    error_message = "The target group must health-check /gtg and accept only 200."
  }

  assert {
    condition     = tonumber(aws_lb_target_group.app.deregistration_delay) > 30
    error_message = "Deregistration must outlast the web server's 30 s FastCGI timeout."
  }

  assert {
    condition     = aws_lb.this.idle_timeout < 650
    error_message = "The load balancer's idle timeout must stay below the web servers' 650 s keep-alive."
  }

  assert {
    condition     = length(aws_lb_listener.https) == 0 && aws_lb_listener.http.port == 80
    error_message = "Without a certificate there must be HTTP on 80 and no HTTPS listener."
  }
}

run "instances_take_traffic_from_the_alb_only" {
  command = plan

  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.instances_from_alb.security_group_id == aws_security_group.instances.id &&
      aws_vpc_security_group_ingress_rule.instances_from_alb.referenced_security_group_id == aws_security_group.alb.id &&
      aws_vpc_security_group_ingress_rule.instances_from_alb.cidr_ipv4 == null &&
      aws_vpc_security_group_ingress_rule.instances_from_alb.cidr_ipv6 == null
    )
    error_message = "The instances' only way in must be from the load balancer's security group, never a CIDR."
  }

  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.instances_from_alb.from_port == 80 &&
      aws_vpc_security_group_ingress_rule.instances_from_alb.to_port == 80
    )
    error_message = "The instances must open the web server's port only."
  }

  assert {
    condition = alltrue([
      for r in [aws_vpc_security_group_ingress_rule.alb_http] : r.security_group_id == aws_security_group.alb.id
    ])
    error_message = "The world may reach the load balancer only."
  }
}

run "iam_allows_exactly_the_original_table_calls" {
  command = plan

  assert {
    condition = (
      length(jsondecode(aws_iam_role_policy.table.policy).Statement) == 1 &&
      toset(jsondecode(aws_iam_role_policy.table.policy).Statement[0].Action) == toset(["dynamodb:Query", "dynamodb:PutItem", "dynamodb:Scan"]) &&
      length(jsondecode(aws_iam_role_policy.table.policy).Statement[0].Action) == 3
    )
    error_message = "The instance role may do Query, PutItem and Scan, nothing else."
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.table.policy).Statement[0].Resource == "arn:aws:dynamodb:us-east-1:123456789012:table/Candidates"
    error_message = "The table policy must name the Candidates table only."
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.table.policy).Statement[0].Effect == "Allow"
    error_message = "The table policy must allow."
  }

  assert {
    condition     = aws_iam_role_policy_attachment.ssm.policy_arn == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    error_message = "The instances must be reachable through SSM Session Manager."
  }
}

run "phase_3_launch_template" {
  command = plan

  variables {
    ami_id = "ami-0123456789abcdef0"
  }

  assert {
    condition = (
      aws_launch_template.app[0].metadata_options[0].http_tokens == "required" &&
      aws_launch_template.app[0].metadata_options[0].http_put_response_hop_limit == 1 &&
      aws_launch_template.app[0].metadata_options[0].http_endpoint == "enabled"
    )
    error_message = "Instances must require IMDSv2 tokens with a hop limit of 1."
  }

  assert {
    condition = (
      aws_launch_template.app[0].block_device_mappings[0].ebs[0].encrypted == "true" &&
      aws_launch_template.app[0].block_device_mappings[0].ebs[0].volume_type == "gp3"
    )
    error_message = "The root volume must be encrypted gp3."
  }

  assert {
    condition     = aws_launch_template.app[0].image_id == "ami-0123456789abcdef0" && aws_launch_template.app[0].iam_instance_profile[0].arn == aws_iam_instance_profile.instance.arn
    error_message = "The template must start Packer's image with the instance profile."
  }

  assert {
    condition = alltrue([
      for line in ["CANDIDATES_STORE=dynamodb", "TC_DYNAMO_TABLE=Candidates", "AWS_REGION=us-east-1", "path: /etc/default/candidates"] :
      strcontains(base64decode(aws_launch_template.app[0].user_data), line)
    ])
    error_message = "The user data must write /etc/default/candidates for DynamoDB in the region."
  }

  assert {
    condition     = startswith(base64decode(aws_launch_template.app[0].user_data), "#cloud-config\n")
    error_message = "The user data must be cloud-config, which writes files before candidates.service starts."
  }
}

run "phase_3_group" {
  command = plan

  variables {
    ami_id = "ami-0123456789abcdef0"
  }

  assert {
    condition = (
      aws_autoscaling_group.app[0].min_size == 2 &&
      aws_autoscaling_group.app[0].desired_capacity == 2 &&
      aws_autoscaling_group.app[0].max_size == 4
    )
    error_message = "The group must be min 2, desired 2, max 4 like the originals."
  }

  assert {
    condition     = aws_autoscaling_group.app[0].health_check_type == "ELB" && aws_autoscaling_group.app[0].health_check_grace_period > 0
    error_message = "The group must replace instances the load balancer finds unhealthy, after a grace period."
  }

  assert {
    condition = (
      aws_autoscaling_group.app[0].launch_template[0].version == "3" &&
      aws_autoscaling_group.app[0].launch_template[0].id == aws_launch_template.app[0].id
    )
    error_message = "The group must pin the template's latest version number, not $Latest."
  }

  assert {
    condition     = aws_autoscaling_group.app[0].instance_refresh[0].strategy == "Rolling"
    error_message = "A new template version must roll through the group."
  }

  assert {
    condition = (
      aws_autoscaling_group.app[0].instance_refresh[0].preferences[0].min_healthy_percentage == 100 &&
      aws_autoscaling_group.app[0].instance_refresh[0].preferences[0].max_healthy_percentage == 200
    )
    error_message = "A refresh must launch before it terminates: never below the desired capacity, up to twice it."
  }

  assert {
    condition = (
      aws_autoscaling_group.app[0].instance_refresh[0].preferences[0].auto_rollback == true &&
      aws_autoscaling_group.app[0].instance_refresh[0].preferences[0].alarm_specification[0].alarms == tolist(["candidates-target-5xx"])
    )
    error_message = "A refresh must roll back on failed health checks and on the target group's 5xx alarm."
  }

  assert {
    condition     = toset(aws_autoscaling_group.app[0].target_group_arns) == toset([aws_lb_target_group.app.arn])
    error_message = "The group must register its instances in the target group."
  }
}

run "step_scaling_is_the_originals" {
  command = plan

  variables {
    ami_id = "ami-0123456789abcdef0"
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.cpu_high[0].metric_name == "CPUUtilization" &&
      aws_cloudwatch_metric_alarm.cpu_high[0].threshold == 60 &&
      aws_cloudwatch_metric_alarm.cpu_high[0].comparison_operator == "GreaterThanThreshold" &&
      aws_cloudwatch_metric_alarm.cpu_high[0].period * aws_cloudwatch_metric_alarm.cpu_high[0].evaluation_periods == 60
    )
    error_message = "Scale out when CPU is above 60% for 60 s (the original's 2 x 30 s)."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.cpu_low[0].threshold == 40 &&
      aws_cloudwatch_metric_alarm.cpu_low[0].comparison_operator == "LessThanThreshold" &&
      aws_cloudwatch_metric_alarm.cpu_low[0].period * aws_cloudwatch_metric_alarm.cpu_low[0].evaluation_periods == 300
    )
    error_message = "Scale in when CPU is below 40% for 300 s (the original's 10 x 30 s, with a dead band below the 60% that scales out)."
  }

  assert {
    condition = (
      aws_autoscaling_policy.scale_out[0].scaling_adjustment == 1 &&
      aws_autoscaling_policy.scale_in[0].scaling_adjustment == -1 &&
      aws_autoscaling_policy.scale_out[0].cooldown == 120 &&
      aws_autoscaling_policy.scale_in[0].cooldown == 120 &&
      aws_autoscaling_group.app[0].default_instance_warmup == 60
    )
    error_message = "One instance at a time, 120 s cooldown, 60 s warm-up."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.cpu_high[0].alarm_actions == toset([aws_autoscaling_policy.scale_out[0].arn])
    error_message = "The high-CPU alarm must trigger the scale-out policy."
  }

  assert {
    condition     = length(aws_autoscaling_policy.requests) == 0
    error_message = "Only one scaling policy may be active."
  }
}

run "target_tracking_alternative" {
  command = plan

  variables {
    ami_id         = "ami-0123456789abcdef0"
    scaling_policy = "target-tracking"
  }

  assert {
    condition = (
      aws_autoscaling_policy.requests[0].policy_type == "TargetTrackingScaling" &&
      aws_autoscaling_policy.requests[0].target_tracking_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ALBRequestCountPerTarget" &&
      aws_autoscaling_policy.requests[0].target_tracking_configuration[0].predefined_metric_specification[0].resource_label == "app/candi123/0123456789abcdef/targetgroup/candi123/0123456789abcdef"
    )
    error_message = "Target tracking must follow ALBRequestCountPerTarget of this load balancer's target group."
  }

  assert {
    condition     = aws_autoscaling_policy.requests[0].estimated_instance_warmup == 60
    error_message = "Target tracking must count a new instance after the original's 60 s warm-up."
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.cpu_high) == 0 && length(aws_autoscaling_policy.scale_out) == 0
    error_message = "Only one scaling policy may be active."
  }
}

run "https_with_a_certificate" {
  command = plan

  variables {
    certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  }

  assert {
    condition     = length(aws_lb_listener.https) == 1 && aws_lb_listener.https[0].port == 443 && length(aws_vpc_security_group_ingress_rule.alb_https) == 1
    error_message = "A certificate must add an HTTPS listener on 443 and open 443 on the load balancer."
  }

  assert {
    condition     = output.url == "https://candi123-1.us-east-1.elb.amazonaws.com"
    error_message = "With a certificate the URL must be HTTPS."
  }
}

run "rejects_an_unknown_policy" {
  command = plan

  variables {
    scaling_policy = "cpu"
  }

  expect_failures = [var.scaling_policy]
}

run "rejects_a_single_zone" {
  command = plan

  variables {
    az_count = 1
  }

  expect_failures = [var.az_count]
}

run "the_table_follows_the_deployment_name" {
  command = plan

  variables {
    name   = "blue"
    ami_id = "ami-0123456789abcdef0"
  }

  assert {
    condition     = aws_dynamodb_table.candidates.name == "blue-Candidates" && output.table_name == "blue-Candidates"
    error_message = "A deployment not named candidates must get a table of its own."
  }

  assert {
    condition     = strcontains(base64decode(aws_launch_template.app[0].user_data), "TC_DYNAMO_TABLE=blue-Candidates\n")
    error_message = "The user data must hand the deployment's table to the app."
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.table.policy).Statement[0].Resource == aws_dynamodb_table.candidates.arn
    error_message = "The IAM policy must name the deployment's table."
  }
}

run "a_table_name_can_be_given" {
  command = plan

  variables {
    name       = "blue"
    table_name = "Candidates"
  }

  assert {
    condition     = aws_dynamodb_table.candidates.name == "Candidates"
    error_message = "table_name must name the table (an existing one, say)."
  }
}

run "rejects_a_bad_table_name" {
  command = plan

  variables {
    table_name = "a b"
  }

  expect_failures = [var.table_name]
}

run "ssm_endpoints_can_be_left_out" {
  command = plan

  variables {
    ssm_endpoints = false
  }

  assert {
    condition     = length(aws_vpc_endpoint.ssm) == 0 && length(aws_security_group.endpoints) == 0 && length(aws_vpc_security_group_egress_rule.instances_to_endpoints) == 0
    error_message = "ssm_endpoints = false must create no interface endpoint."
  }
}

run "the_newest_image_of_the_deployment_is_found_in_aws" {
  command = plan

  override_data {
    target = data.aws_ami_ids.deployment
    values = {
      ids = ["ami-0bbbbbbbbbbbbbbbb", "ami-0aaaaaaaaaaaaaaaa"]
    }
  }

  assert {
    condition     = aws_launch_template.app[0].image_id == "ami-0bbbbbbbbbbbbbbbb" && output.ami_id == "ami-0bbbbbbbbbbbbbbbb"
    error_message = "The group must run the newest image (aws_ami_ids lists it first)."
  }

  assert {
    condition = (
      data.aws_ami_ids.deployment.owners == tolist(["self"]) &&
      contains([for f in data.aws_ami_ids.deployment.filter : "${f.name}=${join(",", f.values)}"], "tag:Project=candidates") &&
      contains([for f in data.aws_ami_ids.deployment.filter : "${f.name}=${join(",", f.values)}"], "state=available")
    )
    error_message = "Images must be looked up among this account's available AMIs tagged Project=<name>."
  }
}

run "an_image_for_another_port_is_refused" {
  command = plan

  variables {
    ami_id   = "ami-0123456789abcdef0"
    web_port = 8080
  }

  expect_failures = [aws_launch_template.app]
}

run "an_image_for_the_chosen_port_is_taken" {
  command = plan

  variables {
    ami_id   = "ami-0123456789abcdef0"
    web_port = 8080
  }

  override_data {
    target = data.aws_ami.app
    values = {
      tags = { WebPort = "8080" }
    }
  }

  assert {
    condition     = aws_lb_target_group.app.port == 8080 && aws_vpc_security_group_ingress_rule.instances_from_alb.from_port == 8080 && output.web_port == 8080
    error_message = "The target group and the instances' rule must use web_port."
  }
}

run "alarms_watch_5xx_unhealthy_hosts_and_throttling" {
  command = plan

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.target_5xx.namespace == "AWS/ApplicationELB" &&
      aws_cloudwatch_metric_alarm.target_5xx.metric_name == "HTTPCode_Target_5XX_Count" &&
      aws_cloudwatch_metric_alarm.target_5xx.dimensions.LoadBalancer == "app/candi123/0123456789abcdef" &&
      aws_cloudwatch_metric_alarm.target_5xx.dimensions.TargetGroup == "targetgroup/candi123/0123456789abcdef" &&
      length(aws_cloudwatch_metric_alarm.target_5xx.dimensions) == 2
    )
    error_message = "The 5xx alarm must count this target group's 5xx answers."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.unhealthy_hosts.metric_name == "UnHealthyHostCount" &&
      aws_cloudwatch_metric_alarm.unhealthy_hosts.dimensions == aws_cloudwatch_metric_alarm.target_5xx.dimensions &&
      aws_cloudwatch_metric_alarm.unhealthy_hosts.threshold == 0
    )
    error_message = "An alarm must watch this target group's unhealthy hosts."
  }

  assert {
    condition     = toset([for q in aws_cloudwatch_metric_alarm.dynamodb_throttled.metric_query : "${q.metric[0].metric_name}:${q.metric[0].dimensions.TableName}" if length(q.metric) > 0]) == toset(["ReadThrottleEvents:Candidates", "WriteThrottleEvents:Candidates"])
    error_message = "An alarm must watch the table's read and write throttling."
  }

  assert {
    condition = (
      length(aws_sns_topic.alarms) == 0 &&
      alltrue([for a in [aws_cloudwatch_metric_alarm.target_5xx, aws_cloudwatch_metric_alarm.unhealthy_hosts, aws_cloudwatch_metric_alarm.dynamodb_throttled] : length(a.alarm_actions) == 0])
    )
    error_message = "Without an e-mail there must be no topic and no alarm action."
  }
}

run "alarms_mail_when_an_address_is_given" {
  command = plan

  variables {
    alarm_email = "ops@example.com"
  }

  assert {
    condition     = aws_sns_topic_subscription.alarm_email[0].protocol == "email" && aws_sns_topic_subscription.alarm_email[0].endpoint == "ops@example.com" && aws_sns_topic_subscription.alarm_email[0].topic_arn == aws_sns_topic.alarms[0].arn
    error_message = "The address must be subscribed to the alarms' topic."
  }

  assert {
    condition = alltrue([
      for a in [aws_cloudwatch_metric_alarm.target_5xx, aws_cloudwatch_metric_alarm.unhealthy_hosts, aws_cloudwatch_metric_alarm.dynamodb_throttled] :
      a.alarm_actions == toset([aws_sns_topic.alarms[0].arn])
    ])
    error_message = "Every alarm must notify the topic."
  }
}

run "http_redirects_to_https_with_a_certificate" {
  command = plan

  variables {
    certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  }

  assert {
    condition = (
      aws_lb_listener.http.default_action[0].type == "redirect" &&
      aws_lb_listener.http.default_action[0].redirect[0].protocol == "HTTPS" &&
      aws_lb_listener.http.default_action[0].redirect[0].port == "443" &&
      aws_lb_listener.http.default_action[0].redirect[0].status_code == "HTTP_301"
    )
    error_message = "With a certificate, HTTP must redirect to HTTPS (301)."
  }

  assert {
    condition     = aws_lb_listener.https[0].default_action[0].target_group_arn == aws_lb_target_group.app.arn
    error_message = "HTTPS must forward to the instances."
  }
}

run "http_forwards_without_a_certificate" {
  command = plan

  assert {
    condition     = aws_lb_listener.http.default_action[0].type == "forward" && aws_lb_listener.http.default_action[0].target_group_arn == aws_lb_target_group.app.arn
    error_message = "Without a certificate, HTTP must forward to the instances."
  }

  assert {
    condition     = aws_lb.this.access_logs[0].enabled == false
    error_message = "Access logs must be off without a bucket."
  }
}

run "access_logs_go_to_the_given_bucket" {
  command = plan

  variables {
    access_logs_bucket = "my-logs"
  }

  assert {
    condition     = aws_lb.this.access_logs[0].enabled && aws_lb.this.access_logs[0].bucket == "my-logs" && aws_lb.this.access_logs[0].prefix == "candidates"
    error_message = "A bucket must turn the access logs on, under the deployment's name."
  }
}

run "rejects_thresholds_without_a_dead_band" {
  command = plan

  variables {
    cpu_low_threshold = 60
  }

  expect_failures = [var.cpu_high_threshold]
}
