command "a" {
  input = command.c.id
}

command "b" {
  input = command.a.id
}

command "c" {
  input = command.b.id
}
