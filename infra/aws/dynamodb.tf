# The table the Flask original uses, so an existing deployment's data and
# this service's are interchangeable.
resource "aws_dynamodb_table" "candidates" {
  name         = var.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "CandidateName"

  attribute {
    name = "CandidateName"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = { Name = var.table_name }
}
