# What an operator is told about: 5xx answers from the instances, targets
# the load balancer finds unhealthy, and DynamoDB throttling the table's
# calls. Each alarm notifies the SNS topic when var.alarm_email is given.
# The 5xx alarm also stops an instance refresh and rolls it back
# (compute.tf), so it exists from phase 1 on.

locals {
  alarm_actions = var.alarm_email == "" ? [] : [aws_sns_topic.alarms[0].arn]
  lb_dimensions = {
    LoadBalancer = aws_lb.this.arn_suffix
    TargetGroup  = aws_lb_target_group.app.arn_suffix
  }
}

resource "aws_sns_topic" "alarms" {
  count = var.alarm_email == "" ? 0 : 1

  name = "${var.name}-alarms"
}

# AWS sends a confirmation mail first; nothing arrives until it is confirmed.
resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == "" ? 0 : 1

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "target_5xx" {
  alarm_name          = "${var.name}-target-5xx"
  alarm_description   = "The instances answered more than ${var.target_5xx_threshold} 5xx in a minute (500: the store refused, 503: the store is unavailable). Rolls back an instance refresh in progress."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_Target_5XX_Count"
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.target_5xx_threshold
  treat_missing_data  = "notBreaching"
  dimensions          = local.lb_dimensions
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  alarm_name          = "${var.name}-unhealthy-hosts"
  alarm_description   = "The load balancer has found an instance unhealthy (GET /gtg not 200) for 3 minutes: the group replaces it, but one that keeps failing means the image or its boot is broken."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  dimensions          = local.lb_dimensions
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# DynamoDB publishes throttling per table as read and write events; their
# sum is what the app meets as 503 once its retries are spent.
resource "aws_cloudwatch_metric_alarm" "dynamodb_throttled" {
  alarm_name          = "${var.name}-dynamodb-throttled"
  alarm_description   = "DynamoDB throttled calls on ${aws_dynamodb_table.candidates.name} in each of 2 minutes."
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "throttled"
    expression  = "reads + writes"
    label       = "Throttled reads and writes"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = { reads = "ReadThrottleEvents", writes = "WriteThrottleEvents" }
    content {
      id = metric_query.key

      metric {
        namespace   = "AWS/DynamoDB"
        metric_name = metric_query.value
        stat        = "Sum"
        period      = 60
        dimensions  = { TableName = aws_dynamodb_table.candidates.name }
      }
    }
  }
}
