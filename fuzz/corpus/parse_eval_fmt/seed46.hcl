# A CI pipeline made of local commands: prepare, run checks in parallel, report.
# Runs anywhere: no backend needed.

variable "checks" {
  type    = set(string)
  default = ["lint", "unit", "docs"]
}

command "workspace" {
  run     = "mkdir -p /tmp/hive-pipeline && echo ready"
  destroy = "rm -rf /tmp/hive-pipeline"
}

command "check" {
  for_each = var.checks
  run      = "echo ${each.key} ok > /tmp/hive-pipeline/${each.key}.log"
  triggers = { workspace = command.workspace.id }
}

command "report" {
  run      = "cat /tmp/hive-pipeline/*.log"
  triggers = {
    checks = join(",", [for c in command.check : c.id])
  }
}

output "report" {
  value = command.report.stdout
}
