# Three small VMs on a NAT bridge, reachable over SSH.
#
#   hive -C examples/cluster apply
#   hive -C examples/cluster output ips
#   hive -C examples/cluster ssh 'instance.node[0]'
#   hive -C examples/cluster destroy
#
# The guests are the lab's tiny test guest (a Debian cloud kernel with a busybox and
# dropbear initramfs, built by lab/tiny-guest.sh), booted directly from the kernel.

variable "nodes" {
  type        = number
  default     = 3
  description = "how many VMs"
}

variable "prefix" {
  type        = string
  default     = "hive-demo"
  description = "names of the network and the VMs (at most 12 characters)"
}

variable "subnet" {
  type        = string
  default     = "10.77.0"
  description = "the first three numbers of the bridge's /24"
}

variable "ssh_public_key" {
  type        = string
  default     = ""
  description = "a key of yours to put in every VM (hive always adds its own, for hive ssh)"
}

host "local" {
  accel = "tcg"
}

bridge "lan" {
  driver = "libvirt"
  host   = host.local
  name   = var.prefix
  cidr   = "${var.subnet}.1/24"
  dhcp {
    range = ["${var.subnet}.100", "${var.subnet}.200"]
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
  name   = "${var.prefix}-${count.index}"
  type   = "t3.nano"
  network {
    bridge = bridge.lan
    ip     = cidrhost("${var.subnet}.0/24", 10 + count.index)
  }
  cloud_init {
    hostname            = "${var.prefix}-${count.index}"
    ssh_authorized_keys = var.ssh_public_key == "" ? [] : [var.ssh_public_key]
  }
  wait_for = "ssh"
}

output "ips" {
  value = instance.node[*].ip
}
