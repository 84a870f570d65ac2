instance "node" {
  netwrk {
    bridge = bridge.lan
  }
}
