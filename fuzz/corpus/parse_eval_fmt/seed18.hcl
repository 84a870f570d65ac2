instance "node" {
  lifecycle {
    ignore_changes = [memroy]
    prevent_destory = true
  }
}
