# A VM whose data volume is kept in an S3 store: the store holds the durable copy, the host a
# working copy. `hive snapshot` sends the chunks the store does not have yet (the guest
# paused while its disk is read), destroy snapshots it first, and the next apply restores it:
# the cluster is gone and rebuilt, its data is not lost.
#
#   bash examples/stored-volume/demo.sh      # starts the lab's S3 server and runs it all
#
# The store is the lab's SeaweedFS on loopback (lab/s3.sh) with the lab's test credentials;
# give others with -var, or leave access_key and secret_key out to use AWS_ACCESS_KEY_ID /
# AWS_SECRET_ACCESS_KEY or ~/.aws/credentials.

variable "s3_endpoint" {
  type    = string
  default = "http://127.0.0.1:9100"
}

variable "s3_access_key" {
  type    = string
  default = "hivetest"
}

variable "s3_secret_key" {
  type      = string
  sensitive = true
  default   = "hivetestsecret"
}

variable "prefix" {
  type        = string
  default     = "hive-kept"
  description = "names of the bridge and the VM"
}

host "local" {
  accel = "tcg"
}

store "lab" {
  endpoint   = var.s3_endpoint
  bucket     = "hive-demo"
  access_key = var.s3_access_key
  secret_key = var.s3_secret_key
}

bridge "lan" {
  driver = "libvirt"
  host   = host.local
  name   = "${var.prefix}-br"
  cidr   = "10.79.0.1/24"
  dhcp {
    range = ["10.79.0.100", "10.79.0.200"]
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

volume "data" {
  host                = host.local
  size                = "64MiB"
  store               = store.lab
  snapshot_on_destroy = true
  keep_snapshots      = 3
}

instance "vm" {
  driver = "libvirt"
  host   = host.local
  image  = image.tiny
  name   = "${var.prefix}-vm"
  type   = "t3.nano"
  attach = [volume.data]
  network {
    bridge = bridge.lan
    ip     = "10.79.0.10"
  }
  wait_for = "ssh"
}

output "restored_from" {
  value = volume.data.restored_from
}
