output "url" {
  description = "The service's address, for validate and load."
  value       = "http://${google_compute_global_address.lb.address}"
}

output "name" {
  description = "The deployment's name (var.name), its project label."
  value       = var.name
}

output "project" {
  description = "The project, for Packer and gcloud."
  value       = var.project
}

output "region" {
  description = "The region of the subnet and the instance group."
  value       = var.region
}

output "zones" {
  description = "The zones the instance group spreads over; Packer can build in the first."
  value       = local.zones
}

output "network" {
  description = "The network's name (Packer's network)."
  value       = google_compute_network.this.name
}

output "build_subnetwork" {
  description = "The build subnet's name for Packer's subnetwork (empty without image_build_access)."
  value       = var.image_build_access ? google_compute_subnetwork.build[0].name : ""
}

output "build_tag" {
  description = "The network tag a build instance needs for SSH from Identity-Aware Proxy (Packer's tags, with image_build_access)."
  value       = local.build_tag
}

output "instance_group" {
  description = "The regional instance group manager's name (empty before the third phase)."
  value       = local.serving ? google_compute_region_instance_group_manager.app[0].name : ""
}

output "image" {
  description = "The image the instances run (empty before the third phase)."
  value       = local.serving ? data.google_compute_image.app[0].self_link : ""
}

output "backend_service" {
  description = "The backend service, whose health gcloud reports (gcloud compute backend-services get-health --global)."
  value       = google_compute_backend_service.app.name
}

output "service_account" {
  description = "The instances' service account (roles/datastore.user only)."
  value       = google_service_account.app.email
}

output "firestore_database" {
  description = "The Firestore database id (FIRESTORE_DATABASE on the instances)."
  value       = google_firestore_database.this.name
}

output "firestore_location" {
  description = "Where the Firestore database lives."
  value       = google_firestore_database.this.location_id
}
