# The store: a Firestore database in native mode, where the app keeps the
# collection `candidates` (document id = the name, one field
# CandidateName), the original's layout. Delete protection keeps it, data
# included, through `terraform destroy`: Terraform forgets it (ABANDON)
# rather than fail. Point-in-time recovery keeps 7 days of versions to
# read or restore from.

locals {
  firestore_location = var.firestore_location == "" ? var.region : var.firestore_location
}

resource "google_firestore_database" "this" {
  name                              = var.firestore_database
  location_id                       = local.firestore_location
  type                              = "FIRESTORE_NATIVE"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  deletion_policy                   = "ABANDON"

  depends_on = [google_project_service.apis]
}
