instance "node" {
  count = 2
}

output "ip" {
  value = instance.node["a"].ip
}
