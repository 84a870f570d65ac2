locals {
  net = "10.77.0.0/16"
}

output "strings" {
  value = {
    join    = join("-", ["a", "b"])
    split   = split(",", "x,y")
    lower   = lower("ABC")
    upper   = upper("abc")
    replace = replace("a.b.c", ".", "-")
    format  = format("%s has %d nodes", "lab", 3)
  }
}

output "collections" {
  value = {
    length  = length(["a", "b", "c"])
    concat  = concat([1], [2, 3])
    merge   = merge({ a = 1 }, { b = 2, a = 3 })
    keys    = keys({ b = 1, a = 2 })
    values  = values({ b = 1, a = 2 })
    lookup  = lookup({ a = "x" }, "b", "default")
    element = element(["a", "b"], 3)
    range   = range(3)
    toset   = toset(["b", "a", "b"])
    tolist  = tolist(toset(["z", "y"]))
    tomap   = tomap({ a = "1" })
    min     = min(3, 1, 2)
    max     = max(3, 1, 2)
  }
}

output "encoding" {
  value = {
    json   = jsonencode({ a = [1, true, null] })
    decode = jsondecode("{\"x\": [1, 2]}")
    yaml   = yamlencode({ users = [{ name = "ann", groups = ["sudo"] }] })
    b64    = base64encode("hive")
    sha256 = sha256("hive")
  }
}

output "network" {
  value = {
    host    = cidrhost(local.net, 5)
    last    = cidrhost(local.net, -2)
    subnet  = cidrsubnet(local.net, 8, 2)
    subnet6 = cidrsubnet("fd00::/48", 16, 1)
  }
}

output "file" {
  value = file("motd.txt")
}
