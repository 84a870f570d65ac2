variable "nodes" {
  default = 3
}

instance "node" {
  count = var.node
}
