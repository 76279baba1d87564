"""The backups kept beside a state file.

``<state>.backup`` is the version before the last write; ``<state>.v<N>.backup`` the file as a
nimctl of format version N left it, kept by the first write after a migration (the oldest
original is the one worth keeping, so it is never replaced). ``keep_backups(path, migrated_from)``
makes them from the file on disk just before it is replaced; each is a hard link where the file
system allows (it costs no copy), else a copy, and replaced atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

from nimctl.common.files import write_atomic


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".backup")


def versioned_backup_path(path: Path, version: int) -> Path:
    return path.with_name(f"{path.name}.v{version}.backup")


def keep_backups(path: Path, migrated_from: int | None) -> None:
    """Keep the state file ``path`` as it is now as its backup (and, when it was read in an older
    format ``migrated_from``, as that version's backup if there is none yet)."""
    if not path.exists():
        return
    link_or_copy(path, backup_path(path))
    if migrated_from is not None:
        versioned = versioned_backup_path(path, migrated_from)
        if not versioned.exists():  # the oldest original is the one worth keeping
            link_or_copy(path, versioned)


def link_or_copy(source: Path, target: Path) -> None:
    """Make ``target`` an exact copy of ``source``, replacing it atomically."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        os.link(source, tmp)  # same inode: the old state lives on under the backup name
    except OSError:
        # No hard links on this file system: a copy, written as durably as the state itself.
        write_atomic(target, source.read_bytes(), mode=0o600)
        return
    # A link has no content to write, so write_atomic does not apply: only its rename does.
    try:
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
