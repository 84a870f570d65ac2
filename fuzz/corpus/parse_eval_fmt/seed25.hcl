instance "a" {
  cpu = 1
}

instance "b" {
  memory = 1024 * "x"
}

output "c" {
  value = local.nothing
}
