"""``python -m churnwatch`` is the ``churnwatch`` command."""

from churnwatch.cli.app import main

main()
