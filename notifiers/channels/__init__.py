"""One module per delivery channel, each exposing ``CHANNEL`` for the registry."""
