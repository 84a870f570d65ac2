# Three small VMs on a NAT bridge, reachable over SSH.
#
#   hive -C examples/cluster apply
#   hive -C examples/cluster output -json
#   hive -C examples/cluster destroy

variable "nodes" {
  type        = number
  default     = 3
  description = "how many VMs"
}

variable "ssh_public_key" {
  type        = string
  default     = ""
  description = "public key put in every VM (default: the lab's test key)"
}

locals {
  prefix = "hive-demo"
}

host "local" {
  accel = "tcg"
}

bridge "lan" {
  driver = "libvirt"
  host   = host.local
  cidr   = "10.77.0.1/24"
  dhcp {
    range = ["10.77.0.100", "10.77.0.200"]
  }
  nat = true
}

image "tiny" {
  host    = host.local
  format  = "kernel"
  kernel  = "/var/cache/hive-test/tiny/current/vmlinuz"
  initrd  = "/var/cache/hive-test/tiny/current/initrd.img"
  cmdline = "console=ttyS0 quiet"
}

instance "node" {
  count  = var.nodes
  driver = "libvirt"
  host   = host.local
  image  = image.tiny
  type   = "t3.nano"
  network {
    bridge = bridge.lan
    ip     = cidrhost("10.77.0.0/24", 10 + count.index)
  }
  cloud_init {
    hostname            = "${local.prefix}-${count.index}"
    ssh_authorized_keys = var.ssh_public_key == "" ? [] : [var.ssh_public_key]
  }
  wait_for = "ssh"
}

output "ips" {
  value = instance.node[*].ip
}
