output "url" {
  description = "The service's address, for validate and load."
  value       = var.certificate_arn == "" ? "http://${aws_lb.this.dns_name}" : "https://${aws_lb.this.dns_name}"
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
  description = "The public subnet Packer builds the image in (phase 2)."
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
