"""Writing a file so that a reader sees the old content or the new one, never half of either.

``write_atomic(path, data)`` writes a temporary file beside ``path`` (created exclusively, with
``mode``), flushes it to disk, then renames it over ``path``; on any failure the temporary file
is removed and ``path`` is untouched. Options: no flush (``fsync=False``, for files that are only
a cache or a convenience), a flush of the directory after the rename (``fsync_dir``, so that the
rename itself survives a power cut), and a step run just before the rename (``before_replace``).
The one definition for the state file and its backups, the state's lock metadata, plan files,
local endpoint records, task results, the results cache, export summaries and the user cache.

``fsync_directory(directory)`` flushes a directory's entries (a rename, a created file).

Temporary files are named ``.<name>.<pid>.<random>.tmp``: the pid lets a sweep tell a temp file
of a writer that died from one still being written (``nimctl.state.tempfiles``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(
    path: Path,
    data: str | bytes,
    *,
    mode: int | None = 0o600,
    fsync: bool = True,
    fsync_dir: bool = False,
    before_replace: Callable[[], object] | None = None,
) -> None:
    """Replace ``path`` with ``data`` in one step. ``mode=None``: what a new file would get.
    ``before_replace`` runs once the new content is written (and flushed), just before the
    rename; whatever it raises aborts the write."""
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, _umask_mode() if mode is None else mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync_dir:
        fsync_directory(directory)
