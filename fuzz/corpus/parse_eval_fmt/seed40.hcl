variable "nodes" {
  type    = number
  default = 3
}

instance "node" {
  count  = var.nodes
  cpus   = count.index + 1
  memory = count.index == 0 ? "2GiB" : "1GiB"
  cloud_init {
    hostname = format("node-%02d", count.index)
  }
}

output "hostnames" {
  value = instance.node[*].cloud_init.hostname
}

output "cpus" {
  value = [for n in instance.node : n.cpus]
}

output "big" {
  value = [for i, n in instance.node : i if n.memory == "2GiB"]
}

output "first_ip" {
  value = instance.node[0].ip
}

output "count" {
  value = length(instance.node)
}
