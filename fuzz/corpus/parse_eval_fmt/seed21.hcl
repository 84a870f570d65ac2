instance {
  cpus = 2
}
