"""The ``nimctl`` console script: the shell's entry point, before anything heavy is imported.

A Ctrl-C while the command line interface is still being imported (typer and the commands take a
few hundred milliseconds) ends with exit code 130 and one line, like a Ctrl-C at any later moment;
an operating-system error that escaped every command (a full disk under a file nimctl writes,
say) ends with its message and exit code 1, never a traceback.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from nimctl.cli.app import main as app_main

        app_main()
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
    except OSError as err:
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        sys.stderr.write(f"Error: {err.strerror or err}{where}\n  hint: check the disk and the state directory\n")
        sys.exit(1)
