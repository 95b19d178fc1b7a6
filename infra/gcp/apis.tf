# The APIs the deployment calls. They stay enabled on destroy: other
# things in the project may use them, and disabling Firestore's or Compute
# Engine's would break those too.

locals {
  apis = [
    "compute.googleapis.com",              # networks, instances, load balancer
    "firestore.googleapis.com",            # the database
    "iam.googleapis.com",                  # the instances' service account
    "cloudresourcemanager.googleapis.com", # the project's IAM policy
  ]
}

resource "google_project_service" "apis" {
  for_each = toset(local.apis)

  service            = each.value
  disable_on_destroy = false
}
