instance "node" {
  count = -1
}
