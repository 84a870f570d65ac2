instance "node" {
  cloud_init {
    user_data = <<EOT
#cloud-config
runcmd: []
  }
}
