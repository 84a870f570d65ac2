# CI runners that share one state in a bucket: each job locks it while it runs, a job that
# was cancelled leaves a lease that runs out, and every replaced snapshot is kept.
#   export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...   (or a profile)
#   hive -C examples/shared-state apply -var endpoint=http://127.0.0.1:9000
# `bash lab/s3.sh start DIR 9000` and `bash lab/s3.sh bucket 9000 hive-state` start a local
# server with the lab's credentials (hivetest / hivetestsecret).

variable "endpoint" {
  type    = string
  default = "http://127.0.0.1:9000"
}

variable "pipeline" {
  type    = string
  default = "main"
}

hive {
  state {
    backend       = "s3"
    endpoint      = var.endpoint
    bucket        = "hive-state"
    key           = "ci/${var.pipeline}.json"
    lock_lease    = "2m"
    keep_versions = 10
  }
}

command "cluster_ready" {
  run = "echo cluster for ${var.pipeline} is ready"
}

output "message" {
  value = command.cluster_ready.stdout
}
