nodes = 3
