instance "node" {
  count = 3
}

output "ip" {
  value = instance.node.ip
}
