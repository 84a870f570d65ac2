locals {
  names = join(",", 3)
}
