instance "node" {
  memory = "1GiB
}
