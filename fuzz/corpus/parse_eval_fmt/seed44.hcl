variable "nodes" {
  type    = number
  default = "4"
}

variable "server" {
  type = object({
    name = string
    port = optional(number)
  })
  default = { name = "web" }
}

variable "tags" {
  type    = map(string)
  default = { env = "ci", tier = 1 }
}

variable "zones" {
  type    = set(string)
  default = ["b", "a", "a"]
}

variable "token" {
  type      = string
  default   = "s3cr3t"
  sensitive = true
}

variable "unset" {
  type = string
}

output "nodes" {
  value = var.nodes
}

output "server" {
  value = var.server
}

output "tags" {
  value = var.tags
}

output "zones" {
  value = var.zones
}

output "token" {
  value     = "Bearer ${var.token}"
  sensitive = true
}

output "unset" {
  value = var.unset
}
