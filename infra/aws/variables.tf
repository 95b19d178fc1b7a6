variable "region" {
  description = "The AWS region everything is created in."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Prefix of every resource's name, and the Project tag."
  type        = string
  default     = "candidates"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,19}$", var.name))
    error_message = "The name must be 1 to 20 lower-case letters, digits or dashes, starting with a letter (it prefixes load balancer and target group names, which AWS limits to 32 characters)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

# Network

variable "vpc_cidr" {
  description = "The VPC's address range; each availability zone gets a /24 of it."
  type        = string
  default     = "10.40.0.0/16"
}

variable "az_count" {
  description = "How many availability zones the load balancer and the instances span."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 6
    error_message = "An Application Load Balancer needs at least two availability zones (and this VPC has room for six)."
  }
}

variable "web_port" {
  description = "The port the web server listens on in the image (Packer's web_port); the target group and the instances' security group use it."
  type        = number
  default     = 80
}

variable "ssm_endpoints" {
  description = "Interface endpoints for SSM (ssm, ssmmessages, ec2messages) in the private subnets, so Session Manager and make load's stress-ng reach the instances, which have no route to the internet. About $44 a month in two AZs (README.md); false saves that and loses SSM."
  type        = bool
  default     = true
}

variable "access_logs_bucket" {
  description = "An S3 bucket for the load balancer's access logs (its policy must let Elastic Load Balancing write, README.md); empty for none."
  type        = string
  default     = ""
}

variable "alarm_email" {
  description = "An e-mail address the alarms (5xx from targets, unhealthy hosts, DynamoDB throttling) are sent to through an SNS topic; empty: the alarms exist but notify no one."
  type        = string
  default     = ""
}

variable "target_5xx_threshold" {
  description = "5xx answers from the instances in one minute above which the alarm goes off (and an instance refresh in progress rolls back)."
  type        = number
  default     = 10
}

variable "certificate_arn" {
  description = "An ACM certificate for the load balancer's HTTPS listener on 443; empty for HTTP on 80 only."
  type        = string
  default     = ""
}

variable "idle_timeout" {
  description = "Seconds the load balancer keeps an idle connection. The web servers' keep-alive (650 s) must stay longer, or clients get random 502s."
  type        = number
  default     = 60

  validation {
    condition     = var.idle_timeout >= 1 && var.idle_timeout < 650
    error_message = "The idle timeout must be shorter than the web servers' 650 s keep-alive."
  }
}

variable "deregistration_delay" {
  description = "Seconds a leaving instance keeps serving the requests it has: above the web server's 30 s FastCGI timeout, so none is cut."
  type        = number
  default     = 35
}

# Data

variable "table_name" {
  description = "The DynamoDB table (hash key CandidateName). Empty: Candidates, the Flask original's, for the default deployment name, and <name>-Candidates for any other."
  type        = string
  default     = ""

  validation {
    condition     = var.table_name == "" || can(regex("^[A-Za-z0-9_.-]{3,255}$", var.table_name))
    error_message = "The table_name must be empty or 3 to 255 letters, digits, underscores, dots or dashes (DynamoDB's rule)."
  }
}

variable "table_deletion_protection" {
  description = "Whether DynamoDB refuses to delete the table. On by default: infra/deploy.sh destroy keeps the table unless told --delete-table, which turns this off first."
  type        = bool
  default     = true
}

# Instances (the third phase: set ami_id)

variable "ami_id" {
  description = "An image of this account to run instead of the newest one of this deployment (the AMIs tagged Project=<name>, which Packer's phase 2 makes); it must carry the WebPort tag. With neither, only the network, load balancer, table, IAM and alarms exist (phase 1)."
  type        = string
  default     = ""

  validation {
    condition     = var.ami_id == "" || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "The ami_id must be empty or an AMI id such as ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  description = "The instances' type (x86_64, like the image)."
  type        = string
  default     = "t3.micro"
}

variable "app_threads" {
  description = "The app's worker threads per instance (CANDIDATES_THREADS)."
  type        = number
  default     = 16
}

variable "min_size" {
  description = "The fewest instances the group runs."
  type        = number
  default     = 2
}

variable "desired_capacity" {
  description = "The instances the group starts with; scaling changes it afterwards and Terraform leaves it alone."
  type        = number
  default     = 2
}

variable "max_size" {
  description = "The most instances the group scales to."
  type        = number
  default     = 4
}

variable "health_check_grace_period" {
  description = "Seconds a new instance may take to boot and pass the load balancer's health check before the group replaces it."
  type        = number
  default     = 180
}

# Scaling

variable "scaling_policy" {
  description = "step: the original's policy, CloudWatch CPU alarms that add or remove one instance. target-tracking: keep each instance near requests_per_target requests a minute (ALBRequestCountPerTarget)."
  type        = string
  default     = "step"

  validation {
    condition     = contains(["step", "target-tracking"], var.scaling_policy)
    error_message = "The scaling_policy must be step or target-tracking."
  }
}

variable "cpu_high_threshold" {
  description = "Average CPU percent above which the step policy adds an instance; at least 10 points above cpu_low_threshold."
  type        = number
  default     = 60

  validation {
    condition     = var.cpu_high_threshold > 0 && var.cpu_high_threshold <= 100 && var.cpu_high_threshold >= var.cpu_low_threshold + 10
    error_message = "The cpu_high_threshold must be a percentage at least 10 points above cpu_low_threshold: without that dead band the group adds and removes instances around one value."
  }
}

variable "cpu_low_threshold" {
  description = "Average CPU percent below which the step policy removes an instance. Below the high threshold, so that the group does not add and remove an instance around one value (the original had 60 and 60)."
  type        = number
  default     = 40

  validation {
    condition     = var.cpu_low_threshold >= 0 && var.cpu_low_threshold <= 90
    error_message = "The cpu_low_threshold must be a percentage, at most 90."
  }
}

variable "alarm_period" {
  description = "Seconds per CloudWatch evaluation period of the CPU alarms. EC2's detailed monitoring publishes CPU once a minute, so 60 is the shortest that has data in every period."
  type        = number
  default     = 60
}

variable "scale_out_periods" {
  description = "Periods CPU must stay above the high threshold before an instance is added (the original: 2 x 30 s = 60 s)."
  type        = number
  default     = 1
}

variable "scale_in_periods" {
  description = "Periods CPU must stay below the low threshold before an instance is removed (the original: 10 x 30 s = 300 s)."
  type        = number
  default     = 5
}

variable "scaling_cooldown" {
  description = "Seconds after a step scaling activity before the next one."
  type        = number
  default     = 120
}

variable "instance_warmup" {
  description = "Seconds before a new instance's metrics count for scaling and instance refresh."
  type        = number
  default     = 60
}

variable "requests_per_target" {
  description = "The target-tracking policy's goal: requests per instance per minute."
  type        = number
  default     = 3000
}
