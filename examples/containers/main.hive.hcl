# A VM and LXD containers on one Linux bridge that hive owns (its own dnsmasq, no NAT): the
# VM boots under QEMU through libvirt, the containers run in LXD, and they reach each other
# directly on the bridge.
#
#   hive -C examples/containers apply
#   hive -C examples/containers output
#   hive -C examples/containers ssh instance.vm -- ping -c 1 "$(hive -C examples/containers output --raw box0_ip)"
#   hive -C examples/containers ssh 'instance.box[0]' -- ping -c 1 "$(hive -C examples/containers output --raw vm_ip)"
#   hive -C examples/containers destroy
#
# The images are the lab's: the tiny VM guest (lab/tiny-guest.sh) and the busybox LXD image
# (lab/lxd-images.sh). The containers have no SSH server: `hive ssh` uses LXD exec for them.

variable "boxes" {
  type        = number
  default     = 2
  description = "how many containers"
}

variable "prefix" {
  type        = string
  default     = "hive-mix"
  description = "names of the bridge, the VM and the containers (at most 12 characters)"
}

variable "subnet" {
  type        = string
  default     = "10.78.0"
  description = "the first three numbers of the bridge's /24"
}

host "local" {
  accel = "tcg"
}

bridge "lan" {
  host = host.local
  name = "${var.prefix}-br"
  cidr = "${var.subnet}.1/24"
  dhcp {
    range = ["${var.subnet}.100", "${var.subnet}.200"]
  }
  nat = false
}

image "tiny" {
  host    = host.local
  format  = "kernel"
  kernel  = "/var/cache/hive-test/tiny/current/vmlinuz"
  initrd  = "/var/cache/hive-test/tiny/current/initrd.img"
  cmdline = "console=ttyS0 quiet"
}

image "busybox" {
  format = "lxd"
  host   = host.local
  source = "/var/cache/hive-test/lxd/current/busybox.tar.gz"
}

instance "vm" {
  driver = "libvirt"
  host   = host.local
  image  = image.tiny
  name   = "${var.prefix}-vm"
  type   = "t3.nano"
  network {
    bridge = bridge.lan
    ip     = "${var.subnet}.10"
  }
  wait_for = "ssh"
}

instance "box" {
  count  = var.boxes
  driver = "lxd"
  host   = host.local
  image  = image.busybox
  name   = "${var.prefix}-box-${count.index}"
  memory = "128MiB"
  network {
    bridge = bridge.lan
    ip     = cidrhost("${var.subnet}.0/24", 20 + count.index)
  }
  wait_for = "ip"
}

output "vm_ip" {
  value = instance.vm.ip
}

output "box_ips" {
  value = instance.box[*].ip
}

output "box0_ip" {
  value = instance.box[0].ip
}
