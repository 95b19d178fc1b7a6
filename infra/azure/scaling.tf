# Autoscale on the scale set's average CPU, by one instance at a time.
#
# original: the Flask original's rules, above 60 % adds one, below 60 %
# removes one, 2 to 4 instances, 1-minute cooldowns. Azure averages over
# at least 5 minutes (a metric trigger's time window cannot be shorter), so
# the original's 1-minute scale-out window becomes 5 minutes here, sampled
# every minute; its 5-minute scale-in window is unchanged.
#
# portal: the portal guide's rules, above 75 % adds one, below 20 % removes
# one, 2 to 3 instances, with the portal's defaults for a new rule (a
# 10-minute window and a 5-minute cooldown).

locals {
  autoscale = {
    original = { minimum = 2, maximum = 4, out = 60, in = 60, out_window = "PT5M", in_window = "PT5M", cooldown = "PT1M" }
    portal   = { minimum = 2, maximum = 3, out = 75, in = 20, out_window = "PT10M", in_window = "PT10M", cooldown = "PT5M" }
  }[var.autoscale_rules]

  cpu_rules = {
    out = { operator = "GreaterThan", threshold = local.autoscale.out, window = local.autoscale.out_window, direction = "Increase" }
    in  = { operator = "LessThan", threshold = local.autoscale.in, window = local.autoscale.in_window, direction = "Decrease" }
  }
}

resource "azurerm_monitor_autoscale_setting" "app" {
  count = local.serving ? 1 : 0

  name                = "${var.name}-autoscale"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  target_resource_id  = azurerm_linux_virtual_machine_scale_set.app[0].id
  tags                = local.tags

  profile {
    name = var.autoscale_rules

    capacity {
      default = local.autoscale.minimum
      minimum = local.autoscale.minimum
      maximum = local.autoscale.maximum
    }

    dynamic "rule" {
      for_each = local.cpu_rules
      content {
        metric_trigger {
          metric_name        = "Percentage CPU"
          metric_namespace   = "microsoft.compute/virtualmachinescalesets"
          metric_resource_id = azurerm_linux_virtual_machine_scale_set.app[0].id
          time_grain         = "PT1M"
          statistic          = "Average"
          time_window        = rule.value.window
          time_aggregation   = "Average"
          operator           = rule.value.operator
          threshold          = rule.value.threshold
        }

        scale_action {
          direction = rule.value.direction
          type      = "ChangeCount"
          value     = 1
          cooldown  = local.autoscale.cooldown
        }
      }
    }
  }
}
