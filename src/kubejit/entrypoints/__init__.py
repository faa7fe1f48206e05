"""Ways in: the command line, the broker's HTTP API and console, the gateway."""
