bridge "lan" {
  cidr = cidrhost("10.77.0.0/33", 1)
}
