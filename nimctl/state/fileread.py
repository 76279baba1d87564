"""Reading one state file: its bytes parsed, migrated from an older format, and checked.

``read_state_file(path, validate=...)`` gives a ``StateFile`` (the document, the ``os.stat`` of
what was read, the format version it was migrated from), or None when there is no file.
``peek_lineage_and_serial(path)`` gives what a writer must know of the file it is about to
replace. A file nimctl cannot trust (empty, not UTF-8 or not JSON, nested too deeply, not
matching the schema, written by a newer nimctl, unmigratable) raises a ``StateError`` that says
what to do; the file is never changed here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nimctl.state.backups import backup_path
from nimctl.state.errors import StateError
from nimctl.state.model import STATE_VERSION
from nimctl.state.validation import MAX_PROBLEMS_SHOWN, validate_once


@dataclass(frozen=True)
class StateFile:
    """A state file as read: ``data`` is in the current format (migrated in memory if need be)."""

    data: dict[str, Any]
    stat: os.stat_result
    migrated_from: int | None  # the format version on disk, when older than this nimctl's


def read_state_file(path: Path, *, validate: bool) -> StateFile | None:
    """The state file at ``path``, or None when there is none. ``validate``: check it against
    the schema too (a verdict is remembered for the same bytes)."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            raw = fh.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError as err:
        raise StateError(
            f"the state path {path} is a directory, not a file",
            hint="pass the state file itself with --state PATH",
        ) from err
    except PermissionError as err:
        raise StateError(
            f"cannot read the state file {path}: permission denied",
            hint="run nimctl as the user who owns the state file",
        ) from err
    data = _parse(path, raw)
    version = data.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > STATE_VERSION:
        raise StateError(
            f"the state file {path} has format version {version}, written by a newer "
            f"nimctl; this nimctl reads versions up to {STATE_VERSION}. The file was not changed",
            hint="upgrade nimctl to the version that wrote this file",
        )
    migrated_from = None
    if isinstance(version, int) and not isinstance(version, bool) and version < STATE_VERSION:
        data = _migrate(path, data, version)
        migrated_from = version
    if validate:
        problems = validate_once(raw, data)
        if problems:
            raise _damaged(
                path,
                "does not match the state format (schemas/nimctl-state.schema.json):\n  "
                + "\n  ".join(problems[:MAX_PROBLEMS_SHOWN])
                + (
                    f"\n  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more"
                    if len(problems) > MAX_PROBLEMS_SHOWN
                    else ""
                ),
            )
    return StateFile(data, st, migrated_from)


def peek_lineage_and_serial(path: Path) -> tuple[str, int]:
    """The identity of the file on disk, which must be one nimctl can read: a damaged or
    newer file is never overwritten."""
    with open(path, "rb") as fh:
        data = _parse(path, fh.read())
    version, lineage, serial = data.get("version"), data.get("lineage"), data.get("serial")
    if not isinstance(version, int) or isinstance(version, bool) or version > STATE_VERSION:
        raise StateError(
            f"refusing to overwrite {path}: it has format version {version!r}, "
            f"not one this nimctl knows (up to {STATE_VERSION})",
            hint="upgrade nimctl, or move that file away",
        )
    if not isinstance(lineage, str) or not isinstance(serial, int) or isinstance(serial, bool):
        raise _damaged(path, "has no valid lineage/serial")
    return lineage, serial


def _parse(path: Path, raw: bytes) -> dict[str, Any]:
    """The JSON object in the bytes ``raw`` of the state file ``path``."""
    if not raw.strip():
        raise _damaged(path, f"is empty ({len(raw)} bytes)")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise _damaged(path, f"is not UTF-8 text (byte {err.start})") from err
    except RecursionError as err:
        raise _damaged(path, "is nested too deeply to be a state file") from err
    except json.JSONDecodeError as err:
        text = err.doc.rstrip()
        looks_truncated = err.pos >= len(text) or (
            err.msg.startswith("Unterminated string") and "\n" not in text[err.pos :]
        )
        truncated = "; it looks truncated" if looks_truncated else ""
        raise _damaged(
            path, f"is not valid JSON ({err.msg}: line {err.lineno}, column {err.colno}{truncated})"
        ) from err
    if not isinstance(data, dict):
        raise _damaged(path, f"holds a JSON {type(data).__name__}, not an object")
    return data


def _migrate(path: Path, data: dict[str, Any], version: int) -> dict[str, Any]:
    from nimctl.state.migrate import MigrationFailed, migrate

    try:
        return migrate(data)
    except MigrationFailed as err:
        raise _damaged(path, f"claims format version {version} but cannot be migrated: {err}") from err


def _damaged(path: Path, what: str) -> StateError:
    """The error for a state file that cannot be trusted (``what``: why), naming its backup."""
    backup = backup_path(path)
    restore = f"restore the previous version after checking it (cp {backup} {path}), " if backup.exists() else ""
    return StateError(
        f"the state file {path} {what}. nimctl never overwrites a state file it cannot read; it was not changed",
        hint=f"{restore}fix the file by hand, or move it away to start an empty state (nimctl then "
        "no longer knows what it created: remove those objects on the platform yourself)",
    )
