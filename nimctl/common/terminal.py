"""Terminal output rules for the CLI and the plan renderer: whether a stream is a terminal,
whether it may be coloured, and the ANSI codes of the few styles nimctl paints.

``NO_COLOR`` (any value; also set by ``--no-color``) turns colour off, ``NIMCTL_FORCE_COLOR``
turns it on, otherwise a terminal gets colour and a pipe or file does not.
"""

from __future__ import annotations

import os
from typing import TextIO

ANSI_CODES = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}


def is_tty(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def color_enabled(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("NIMCTL_FORCE_COLOR"):
        return True
    return is_tty(stream)


def paint(text: str, style: str) -> str:
    """``text`` in one of the ``ANSI_CODES`` styles (callers decide whether colour is wanted)."""
    return f"\x1b[{ANSI_CODES[style]}m{text}\x1b[0m"
