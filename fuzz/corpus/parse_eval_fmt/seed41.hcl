locals {
  disks = {
    small = "1GiB"
    large = "20GiB"
  }
}

volume "data" {
  for_each = local.disks
  size     = each.value
  pool     = "pool-${each.key}"
}

volume "logs" {
  for_each = toset(["b", "a", "b"])
  size     = "1GiB"
  pool     = each.key
}

instance "node" {
  for_each = volume.data
  attach   = [each.value]
  memory   = each.value.size
}

output "pools" {
  value = { for k, v in volume.data : k => v.pool }
}

output "log_keys" {
  value = keys(volume.logs)
}

output "large_memory" {
  value = instance.node["large"].memory
}

output "grouped" {
  value = { for k, v in local.disks : substr(v, 0, 1) => k... }
}
