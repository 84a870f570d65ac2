bridge "lan" {
  cidr = "10.77.0.1/24"
}

instance "node" {
  network {
    bridge = bridge.lna
  }
}
