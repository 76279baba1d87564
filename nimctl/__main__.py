"""``python -m nimctl``: the same as the ``nimctl`` command (``nimctl.cli.entry.main``)."""

from nimctl.cli.entry import main

main()
