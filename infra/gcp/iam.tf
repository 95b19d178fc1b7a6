# The instances' own identity, with one role: read and write Firestore
# documents (roles/datastore.user). It cannot manage databases, indexes or
# anything else in the project, and no instance uses the default compute
# service account (project Editor).

resource "google_service_account" "app" {
  account_id   = "${var.name}-instances"
  display_name = "candidates API instances (${var.name})"

  depends_on = [google_project_service.apis]
}

resource "google_project_iam_member" "firestore" {
  project = var.project
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.app.email}"
}
