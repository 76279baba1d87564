"""Writing a file so that a reader sees the old content or the new one, never half of either.

``write_atomic(path, data)`` writes a temporary file beside ``path`` (created exclusively, with
``mode``), flushes it to disk, then renames it over ``path``; on any failure the temporary file
is removed and ``path`` is untouched. The one definition for the state's lock metadata, plan
files, local endpoint records and task results.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path: Path, data: str | bytes, *, mode: int | None = 0o600, fsync: bool = True) -> None:
    """Replace ``path`` with ``data`` in one step. ``mode=None``: what a new file would get."""
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, _umask_mode() if mode is None else mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
