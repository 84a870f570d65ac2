locals {
  disks = [{ name = "a", size = "1GiB" }, { name = "b", size = "2GiB" }]
}

volume "data" {
  for_each = local.disks
  size     = each.value.size
}
