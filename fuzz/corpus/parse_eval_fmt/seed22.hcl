bridge "lan" {
  nat = true
}
