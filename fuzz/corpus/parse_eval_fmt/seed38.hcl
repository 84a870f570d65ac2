instance "node" {
  cpus = "two"
}
