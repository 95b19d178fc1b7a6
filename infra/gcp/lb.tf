# The global external Application Load Balancer (Google's front ends, the
# current EXTERNAL_MANAGED scheme): address, forwarding rule on port 80,
# HTTP proxy, URL map, and the backend service that sends requests to the
# group's instances whose /gtg answers.

resource "google_compute_global_address" "lb" {
  name = "${var.name}-lb"

  depends_on = [google_project_service.apis]
}

# 35 s: longer than the web server's 30 s FastCGI timeout, so the load
# balancer never cuts a request the app would still answer, and a leaving
# instance gets as long to finish what it has. Google's front ends keep an
# idle connection to an instance 600 s, less than the web servers' 650 s
# keep-alive, so an instance never closes one a front end is about to use.
resource "google_compute_backend_service" "app" {
  name                            = "${var.name}-backend"
  protocol                        = "HTTP"
  port_name                       = "http"
  load_balancing_scheme           = "EXTERNAL_MANAGED"
  timeout_sec                     = 35
  connection_draining_timeout_sec = 35
  health_checks                   = [google_compute_health_check.gtg.id]

  dynamic "backend" {
    for_each = google_compute_region_instance_group_manager.app
    content {
      group           = backend.value.instance_group
      balancing_mode  = "UTILIZATION"
      capacity_scaler = 1
    }
  }
}

resource "google_compute_url_map" "app" {
  name            = "${var.name}-urls"
  default_service = google_compute_backend_service.app.id
}

resource "google_compute_target_http_proxy" "app" {
  name    = "${var.name}-http"
  url_map = google_compute_url_map.app.id
}

resource "google_compute_global_forwarding_rule" "http" {
  name                  = "${var.name}-http"
  target                = google_compute_target_http_proxy.app.id
  ip_address            = google_compute_global_address.lb.id
  ip_protocol           = "TCP"
  port_range            = "80"
  load_balancing_scheme = "EXTERNAL_MANAGED"
}
