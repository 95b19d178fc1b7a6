# The original's policy: keep the group's average CPU near 60 %, between
# 2 and 4 instances, and ignore a new instance's CPU for its first 60 s
# (its boot would look like load).

resource "google_compute_region_autoscaler" "app" {
  count = local.serving ? 1 : 0

  name   = "${var.name}-autoscaler"
  region = var.region
  target = google_compute_region_instance_group_manager.app[0].id

  autoscaling_policy {
    min_replicas    = var.min_replicas
    max_replicas    = var.max_replicas
    cooldown_period = var.cooldown

    cpu_utilization {
      target = var.cpu_target
    }
  }

  lifecycle {
    precondition {
      condition     = var.max_replicas >= var.min_replicas
      error_message = "max_replicas must be at least min_replicas."
    }
  }
}
