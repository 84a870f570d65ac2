locals {
  x = "nodes: ${[1, 2]}"
}
