instance "node" {
  ip = "10.0.0.5"
}
