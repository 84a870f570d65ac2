variable "nodes" {
  type    = number
  default = 12

  validation {
    condition     = var.nodes >= 1 && var.nodes <= 10
    error_message = "nodes must be between 1 and 10"
  }
}
