# The instances' role: exactly the three table calls the app makes (the
# original's policy, so the image also runs under an existing deployment's
# role) and what SSM Session Manager needs. No SSH keys, no other access.

data "aws_partition" "current" {}

resource "aws_iam_role" "instance" {
  name_prefix = "${var.name}-instance-"
  description = "The candidates instances: the table and SSM only"

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "table" {
  name = "candidates-table"
  role = aws_iam_role.instance.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan"]
      Resource = aws_dynamodb_table.candidates.arn
    }]
  })
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.instance.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "instance" {
  name_prefix = "${var.name}-instance-"
  role        = aws_iam_role.instance.name
}
