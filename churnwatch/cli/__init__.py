"""The ``churnwatch`` command: the top layer. It imports everything else; nothing imports it."""
