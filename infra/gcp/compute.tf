# The third phase: the instance template and the regional instance group,
# once Packer has built an image into var.image_family. Until then neither
# exists (the load balancer, firewall and database do).

locals {
  serving = var.image_family != ""
}

# The family's newest image, resolved at plan time: a new image Packer
# builds makes a new template, and the group's rolling update replaces the
# instances.
data "google_compute_image" "app" {
  count = local.serving ? 1 : 0

  family  = var.image_family
  project = var.image_project == "" ? var.project : var.image_project
}

data "google_compute_zones" "up" {
  region = var.region
  status = "UP"
}

locals {
  # The group spreads over three zones of the region. A regional group's
  # fixed surge must be zero or at least its number of zones.
  zones = slice(sort(data.google_compute_zones.up.names), 0, min(3, length(data.google_compute_zones.up.names)))
}

resource "google_compute_instance_template" "app" {
  count = local.serving ? 1 : 0

  # A template cannot change in place: each change is a new one, made
  # before the old is destroyed, because the group still refers to it.
  name_prefix  = "${var.name}-"
  description  = "candidates API from ${data.google_compute_image.app[0].name}"
  machine_type = var.machine_type
  region       = var.region
  tags         = [local.tag]

  disk {
    source_image = data.google_compute_image.app[0].self_link
    boot         = true
    auto_delete  = true
    disk_type    = "pd-balanced"
  }

  # No access_config: no external address.
  network_interface {
    subnetwork = google_compute_subnetwork.app.id
  }

  service_account {
    email  = google_service_account.app.email
    scopes = ["cloud-platform"]
  }

  metadata = {
    startup-script = templatefile("${path.module}/startup.sh.tftpl", {
      project  = var.project
      database = google_firestore_database.this.name
      threads  = var.app_threads
    })
    # No SSH keys from the project's metadata; OS Login (IAM) decides who
    # may log in, should a rule ever admit SSH (none here does).
    block-project-ssh-keys = "TRUE"
    enable-oslogin         = "TRUE"
  }

  lifecycle {
    create_before_destroy = true
  }
}

# GET /gtg on the web port: the load balancer's check and autohealing's.
# /gtg never touches the store, so a Firestore outage neither empties the
# backend nor recreates healthy instances.
resource "google_compute_health_check" "gtg" {
  name                = "${var.name}-gtg"
  check_interval_sec  = 5
  timeout_sec         = 5
  healthy_threshold   = 2
  unhealthy_threshold = 3

  http_health_check {
    port         = var.web_port
    request_path = "/gtg"
  }

  depends_on = [google_project_service.apis]
}

resource "google_compute_region_instance_group_manager" "app" {
  count = local.serving ? 1 : 0

  name                      = "${var.name}-mig"
  region                    = var.region
  base_instance_name        = var.name
  distribution_policy_zones = local.zones

  # No target_size: the autoscaler owns it.

  version {
    instance_template = google_compute_instance_template.app[0].self_link_unique
  }

  named_port {
    name = "http"
    port = var.web_port
  }

  auto_healing_policies {
    health_check      = google_compute_health_check.gtg.id
    initial_delay_sec = var.autohealing_initial_delay
  }

  # A new template replaces the instances at once (proactive), each new one
  # made and healthy before an old one goes (surge one per zone, none
  # unavailable), so capacity never drops.
  update_policy {
    type                           = "PROACTIVE"
    minimal_action                 = "REPLACE"
    most_disruptive_allowed_action = "REPLACE"
    replacement_method             = "SUBSTITUTE"
    max_surge_fixed                = length(local.zones)
    max_unavailable_fixed          = 0
  }

  # The instances must reach their store the moment they boot.
  depends_on = [google_project_iam_member.firestore]
}
