variable "nodes" {
  type = nmber
}
