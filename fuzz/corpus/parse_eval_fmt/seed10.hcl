instance "node" {
  depends_on = ["bridge.lan"]
}
