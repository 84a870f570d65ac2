instance "node" {
  count    = 2
  for_each = toset(["a"])
}
