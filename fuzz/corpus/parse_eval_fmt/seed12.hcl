bridge "lan" {
  cidr = "10.77.0.1/24"
}

bridge "lan" {
  cidr = "10.78.0.1/24"
}
