variable "users" {
  type    = list(string)
  default = ["ann", "bob"]
}

locals {
  heredoc = <<-EOT
    #cloud-config
    users:
    %{~ for u in var.users }
      - ${u}
    %{~ endfor }
    EOT
  inline  = "a ${"b"} c %{ if length(var.users) > 1 }many%{ else }one%{ endif }"
  stripped = "x  ${~ "y" ~}  z"
  single  = "${var.users}"
  rendered = templatefile("greeting.tpl", { name = "hive", items = [1, 2] })
}

output "heredoc" {
  value = local.heredoc
}

output "inline" {
  value = local.inline
}

output "stripped" {
  value = local.stripped
}

output "single_interpolation_keeps_type" {
  value = local.single
}

output "rendered" {
  value = local.rendered
}
