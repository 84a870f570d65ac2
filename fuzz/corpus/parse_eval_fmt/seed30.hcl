instance "node" {
  cpu    = 2
  memroy = "1GiB"
}
