# An LXD cluster on multipass instances. The master is launched and initialised as the
# cluster's first member; each member is launched, gets a join token of its own from the
# master (`lxc cluster add`) and joins with it. Adding a name to `members` adds one instance,
# one token and one join, and leaves the others alone; removing one takes it out of the
# cluster before its instance goes.
#
#   hive -C examples/lxd-cluster apply
#   hive -C examples/lxd-cluster output members
#   multipass exec lxd-master -- lxc cluster list
#   hive -C examples/lxd-cluster apply -var 'members=["member1","member2","member3"]'
#   hive -C examples/lxd-cluster destroy
#
# Ubuntu's cloud images, which multipass launches, come with LXD. hive's own tests run this
# against tests/support/multipass, a stand-in of the multipass CLI on LXD containers whose
# image carries Debian's LXD (`-var multipass=tests/support/multipass`).

variable "members" {
  type        = set(string)
  default     = ["member1", "member2"]
  description = "the members that join the master"
}

variable "prefix" {
  type        = string
  default     = "lxd"
  description = "names of the instances: PREFIX-master, PREFIX-MEMBER"
}

variable "image" {
  type        = string
  default     = "22.04"
  description = "a release multipass knows (multipass find)"
}

variable "multipass" {
  type        = string
  default     = "multipass"
  description = "the multipass binary"
}

host "local" {
  multipass {
    path = var.multipass
  }
}

locals {
  # LXD's cluster traffic, on each instance's own address.
  port = 8443
}

instance "master" {
  driver   = "multipass"
  host     = host.local
  image    = var.image
  name     = "${var.prefix}-master"
  cpus     = 1
  memory   = "1GiB"
  wait_for = "ip"
  disk {
    size = "4GiB"
  }
}

instance "member" {
  for_each = var.members
  driver   = "multipass"
  host     = host.local
  image    = var.image
  name     = "${var.prefix}-${each.key}"
  cpus     = 1
  memory   = "1GiB"
  wait_for = "ip"
  disk {
    size = "4GiB"
  }
}

# The cluster's first member: LXD on the master's address, a `dir` storage pool every member
# gets too, no network of LXD's making.
command "bootstrap" {
  run = <<-EOT
    ${var.multipass} exec ${instance.master.name} -- lxd init --preseed <<'EOF'
    config:
      core.https_address: "${instance.master.ip}:${local.port}"
    cluster:
      server_name: ${instance.master.name}
      enabled: true
    storage_pools:
      - name: local
        driver: dir
    profiles:
      - name: default
        devices:
          root:
            path: /
            pool: local
            type: disk
    EOF
  EOT
  triggers = { master = instance.master.id }
}

# A join token per member, issued by the master for that member's name.
command "token" {
  for_each = var.members
  run      = "${var.multipass} exec ${instance.master.name} -- lxc cluster add ${var.prefix}-${each.key} --quiet"
  triggers = { bootstrap = command.bootstrap.id }
}

# LXD takes one joining member at a time (two joins at once can hang one of them), so the
# joins take turns on a lock file of this cluster's; each is bounded all the same.
command "join" {
  for_each = var.members
  timeout  = "5m"
  run      = <<-EOT
    flock /tmp/hive-lxd-cluster-${var.prefix}.lock ${var.multipass} exec ${instance.member[each.key].name} -- lxd init --preseed <<'EOF'
    cluster:
      enabled: true
      server_name: ${instance.member[each.key].name}
      server_address: "${instance.member[each.key].ip}:${local.port}"
      cluster_token: ${trimspace(command.token[each.key].stdout)}
      member_config:
        - entity: storage-pool
          name: local
          key: source
          value: ""
    EOF
  EOT
  destroy  = "${var.multipass} exec ${instance.master.name} -- lxc cluster remove ${instance.member[each.key].name} --force --yes"
  triggers = { member = instance.member[each.key].id, token = command.token[each.key].id }
}

# What the master says of its cluster once every member has joined.
command "cluster" {
  run      = "${var.multipass} exec ${instance.master.name} -- lxc cluster list --format csv"
  triggers = { joins = join(",", sort([for j in command.join : j.id])) }
}

output "members" {
  description = "every member of the cluster and its address"
  value       = merge(
    { (instance.master.name) = instance.master.ip },
    { for m in instance.member : m.name => m.ip },
  )
}

output "cluster" {
  description = "lxc cluster list on the master, as CSV"
  value       = command.cluster.stdout
}
