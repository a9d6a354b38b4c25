"""``python -m trailduck`` is the ``trailduck`` command."""

from trailduck.cli.app import main

main()
