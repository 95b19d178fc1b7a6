# A network of our own with one subnet for the instances. They have no
# external address: Private Google Access lets them reach Firestore's API
# from their internal one, and nothing else they do needs the internet, so
# there is no Cloud NAT (build.tf adds one, to a build subnet only, when
# Packer needs it).

locals {
  # Instances carry this tag; the firewall rule below targets it.
  tag = "${var.name}-web"
}

resource "google_compute_network" "this" {
  name                    = "${var.name}-vpc"
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"

  depends_on = [google_project_service.apis]
}

resource "google_compute_subnetwork" "app" {
  name                     = "${var.name}-app"
  network                  = google_compute_network.this.id
  region                   = var.region
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true
}

# Only Google's front ends and health checkers reach the instances, and
# only on the web port. A custom network denies all other ingress (SSH
# included) by itself.
resource "google_compute_firewall" "web" {
  name          = "${var.name}-web-from-google-front-ends"
  network       = google_compute_network.this.id
  direction     = "INGRESS"
  source_ranges = ["130.211.0.0/22", "35.191.0.0/16"]
  target_tags   = [local.tag]

  allow {
    protocol = "tcp"
    ports    = [tostring(var.web_port)]
  }
}
