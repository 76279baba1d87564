"""Whether output to a stream may be coloured: the one rule for the CLI and the plan renderer.

``NO_COLOR`` (any value; also set by ``--no-color``) turns colour off, ``NIMCTL_FORCE_COLOR``
turns it on, otherwise a terminal gets colour and a pipe or file does not.
"""

from __future__ import annotations

import os
from typing import TextIO


def color_enabled(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("NIMCTL_FORCE_COLOR"):
        return True
    return bool(getattr(stream, "isatty", lambda: False)())
