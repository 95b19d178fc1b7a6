# The table the Flask original uses, so an existing deployment's data and
# this service's are interchangeable. The default deployment keeps the
# original's name, Candidates; any other gets a table of its own, so two
# deployments in one region never fight over one name.

locals {
  table_name = var.table_name != "" ? var.table_name : (var.name == "candidates" ? "Candidates" : "${var.name}-Candidates")
}

resource "aws_dynamodb_table" "candidates" {
  name         = local.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "CandidateName"

  # The data outlives the deployment: DeleteTable is refused until this is
  # turned off, which only `infra/deploy.sh aws destroy --delete-table` does.
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "CandidateName"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = { Name = local.table_name }
}
