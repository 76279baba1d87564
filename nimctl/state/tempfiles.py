"""Removing the temporary files that writers killed mid-write leave beside a state file.

``sweep_stale_temps(directory, names)`` removes ``.<name>.<pid>.<random>.tmp`` files (the names
``nimctl.common.files.write_atomic`` and the backups give them) of each of ``names`` whose
writer's pid is gone and which are older than a minute; a temp file of a live process, or a
recent one, may still be being written and stays.
"""

from __future__ import annotations

import os
import time
from contextlib import suppress
from pathlib import Path

from nimctl.state.lock import process_alive

# Temp files of writers that died mid-write are removed once they are this old (seconds).
STALE_TEMP_AGE_S = 60.0


def sweep_stale_temps(directory: Path, names: tuple[str, ...]) -> None:
    """Remove temp files left by writers killed mid-write (their pid is gone)."""
    prefixes = tuple(f".{name}." for name in names)
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        if not (entry.name.startswith(prefixes) and entry.name.endswith(".tmp")):
            continue
        pid_text = entry.name[: -len(".tmp")].split(".")[-2]
        try:
            stale = not process_alive(int(pid_text)) and time.time() - entry.stat().st_mtime > STALE_TEMP_AGE_S
        except (ValueError, OSError):
            continue
        if stale:
            with suppress(OSError):
                os.unlink(entry.path)
