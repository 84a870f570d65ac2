instance "node" {
  cpus = 2
  cpus = 4
}
