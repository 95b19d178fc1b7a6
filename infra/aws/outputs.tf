output "url" {
  description = "The service's address, for validate and load."
  value       = local.https ? "https://${aws_lb.this.dns_name}" : "http://${aws_lb.this.dns_name}"
}

output "name" {
  description = "The deployment's name (var.name): its Project tag, which infra/deploy.sh gives the images too."
  value       = var.name
}

output "region" {
  description = "The region, for Packer and the AWS CLI."
  value       = var.region
}

output "packer_subnet_id" {
  description = "The public subnet Packer builds the image in (phase 2): its build instance needs Debian's mirrors and the operator's SSH, which the private subnets do not have."
  value       = aws_subnet.public[0].id
}

output "asg_name" {
  description = "The Auto Scaling Group's name (empty before phase 3)."
  value       = local.serving ? aws_autoscaling_group.app[0].name : ""
}

output "target_group_arn" {
  description = "The target group the instances register in."
  value       = aws_lb_target_group.app.arn
}

output "table_name" {
  description = "The DynamoDB table."
  value       = aws_dynamodb_table.candidates.name
}

output "instance_role" {
  description = "The instances' IAM role."
  value       = aws_iam_role.instance.name
}

output "ami_id" {
  description = "The image the group runs: var.ami_id, else the newest AMI tagged Project=<name> (empty before phase 2)."
  value       = local.ami_id
}

output "web_port" {
  description = "The port the web server listens on, which infra/deploy.sh hands to Packer (one source for the image and the load balancer)."
  value       = var.web_port
}

output "alarm_topic_arn" {
  description = "The SNS topic the alarms notify (empty without alarm_email)."
  value       = var.alarm_email == "" ? "" : aws_sns_topic.alarms[0].arn
}
