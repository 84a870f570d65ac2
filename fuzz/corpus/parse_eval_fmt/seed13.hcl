volume "data" {
  for_each = toset(["a", "b"])
}

output "id" {
  value = volume.data[0].id
}
