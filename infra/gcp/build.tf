# Only with image_build_access, for Packer (images/): a subnet of its own
# where the build instance has no external address yet reaches Debian's
# mirrors through Cloud NAT, and accepts SSH from Identity-Aware Proxy's
# range only (Packer's use_iap), on instances tagged for the build. The
# instances' subnet gets neither the NAT nor the rule.

locals {
  build_tag = "${var.name}-packer-build"
}

resource "google_compute_subnetwork" "build" {
  count = var.image_build_access ? 1 : 0

  name                     = "${var.name}-build"
  network                  = google_compute_network.this.id
  region                   = var.region
  ip_cidr_range            = var.build_subnet_cidr
  private_ip_google_access = true
}

resource "google_compute_router" "build" {
  count = var.image_build_access ? 1 : 0

  name    = "${var.name}-build"
  network = google_compute_network.this.id
  region  = var.region
}

resource "google_compute_router_nat" "build" {
  count = var.image_build_access ? 1 : 0

  name                               = "${var.name}-build"
  router                             = google_compute_router.build[0].name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "LIST_OF_SUBNETWORKS"

  subnetwork {
    name                    = google_compute_subnetwork.build[0].id
    source_ip_ranges_to_nat = ["ALL_IP_RANGES"]
  }
}

resource "google_compute_firewall" "build_ssh" {
  count = var.image_build_access ? 1 : 0

  name          = "${var.name}-build-ssh-from-iap"
  network       = google_compute_network.this.id
  direction     = "INGRESS"
  source_ranges = ["35.235.240.0/20"]
  target_tags   = [local.build_tag]

  allow {
    protocol = "tcp"
    ports    = ["22"]
  }
}
