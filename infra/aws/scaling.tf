# Two ways to scale, chosen by var.scaling_policy.
#
# step (the original's): CloudWatch alarms on the group's average CPU add
# one instance after scale_out_periods above the high threshold and remove
# one after scale_in_periods below the low one, each followed by a
# cooldown. AWS calls a one-step policy with a cooldown "simple scaling".
#
# target-tracking: AWS keeps the requests per instance near a target. A C
# responder serves a lot before its CPU rises, so requests are the earlier
# signal (see README.md).

locals {
  step   = local.serving && var.scaling_policy == "step"
  target = local.serving && var.scaling_policy == "target-tracking"
}

resource "aws_autoscaling_policy" "scale_out" {
  count = local.step ? 1 : 0

  name                   = "${var.name}-cpu-scale-out"
  autoscaling_group_name = aws_autoscaling_group.app[0].name
  policy_type            = "SimpleScaling"
  adjustment_type        = "ChangeInCapacity"
  scaling_adjustment     = 1
  cooldown               = var.scaling_cooldown
}

resource "aws_autoscaling_policy" "scale_in" {
  count = local.step ? 1 : 0

  name                   = "${var.name}-cpu-scale-in"
  autoscaling_group_name = aws_autoscaling_group.app[0].name
  policy_type            = "SimpleScaling"
  adjustment_type        = "ChangeInCapacity"
  scaling_adjustment     = -1
  cooldown               = var.scaling_cooldown
}

resource "aws_cloudwatch_metric_alarm" "cpu_high" {
  count = local.step ? 1 : 0

  alarm_name          = "${var.name}-cpu-high"
  alarm_description   = "Add an instance: CPU above ${var.cpu_high_threshold}% for ${var.scale_out_periods * var.alarm_period} s"
  namespace           = "AWS/EC2"
  metric_name         = "CPUUtilization"
  statistic           = "Average"
  period              = var.alarm_period
  evaluation_periods  = var.scale_out_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.cpu_high_threshold
  alarm_actions       = [aws_autoscaling_policy.scale_out[0].arn]

  dimensions = {
    AutoScalingGroupName = aws_autoscaling_group.app[0].name
  }
}

resource "aws_cloudwatch_metric_alarm" "cpu_low" {
  count = local.step ? 1 : 0

  alarm_name          = "${var.name}-cpu-low"
  alarm_description   = "Remove an instance: CPU below ${var.cpu_low_threshold}% for ${var.scale_in_periods * var.alarm_period} s"
  namespace           = "AWS/EC2"
  metric_name         = "CPUUtilization"
  statistic           = "Average"
  period              = var.alarm_period
  evaluation_periods  = var.scale_in_periods
  comparison_operator = "LessThanThreshold"
  threshold           = var.cpu_low_threshold
  alarm_actions       = [aws_autoscaling_policy.scale_in[0].arn]

  dimensions = {
    AutoScalingGroupName = aws_autoscaling_group.app[0].name
  }
}

resource "aws_autoscaling_policy" "requests" {
  count = local.target ? 1 : 0

  name                      = "${var.name}-requests-per-target"
  autoscaling_group_name    = aws_autoscaling_group.app[0].name
  policy_type               = "TargetTrackingScaling"
  estimated_instance_warmup = var.instance_warmup

  target_tracking_configuration {
    target_value = var.requests_per_target

    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${aws_lb.this.arn_suffix}/${aws_lb_target_group.app.arn_suffix}"
    }
  }
}
