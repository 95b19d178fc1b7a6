provider "google" {
  project = var.project
  region  = var.region

  # The Project tag of the AWS and Azure deployments, in the lower case
  # GCP labels require; every resource that takes labels gets it.
  default_labels = merge({ project = var.name }, var.labels)
}
