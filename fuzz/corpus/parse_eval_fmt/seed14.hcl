volume "data" {
  for_each = ["a", "b"]
}
