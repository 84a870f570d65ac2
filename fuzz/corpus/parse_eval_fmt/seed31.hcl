instnce "node" {}
