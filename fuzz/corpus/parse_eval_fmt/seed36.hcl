variable "nodes" {
  type    = number
  default = "three"
}

variable "tags" {
  type    = map(string)
  default = { a = ["x"] }
}
