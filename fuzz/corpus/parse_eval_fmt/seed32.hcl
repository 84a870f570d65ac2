locals {
  names = jion(",", ["a"])
}
