instance "node" {
  cloud_init {
    user_data = file("user-data.yaml")
  }
}
