print("pebble9p")
