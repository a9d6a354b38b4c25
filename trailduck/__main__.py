"""``python -m trailduck`` is the ``trailduck`` command."""

from trailduck.cli import main

main()
