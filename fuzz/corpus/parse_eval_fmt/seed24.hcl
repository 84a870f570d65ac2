variable "secret" {
  type      = string
  default   = "hunter2"
  sensitive = true
}

output "secret" {
  value = "token=${var.secret}"
}
