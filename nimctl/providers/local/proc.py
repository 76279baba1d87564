"""Process identity from ``/proc``: which process a pid is now, and which processes a group holds.

Takes pids, recorded start times and boot ids; gives a process's stat fields (state, group,
session, start time), whether a recorded process is still the one that was started (``is_ours``,
``is_running``), the live members of a process group, and the runner of an interrupted start
(found by its ``--run-id``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The runner every local process is started through (run by path; see runner.py).
RUNNER = str(Path(__file__).parent / "runner.py")
_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the provider needs."""

    state: str  # "R", "S", "Z" (zombie), ...
    pgrp: int
    session: int
    start_time: int  # clock ticks after boot


def proc_stat(pid: int) -> ProcStat | None:
    """The process's stat fields, or None when there is no such process."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = text[text.rindex(")") + 2 :].split()
    return ProcStat(state=fields[0], pgrp=int(fields[2]), session=int(fields[3]), start_time=int(fields[19]))


def boot_id() -> str | None:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def is_ours(pid: int | None, start_time: int | None, boot: str | None) -> bool:
    """The process ``pid`` exists (maybe as a zombie) and is the one recorded: same start, same boot."""
    if pid is None or start_time is None or boot != boot_id():
        return False
    stat = proc_stat(pid)
    return stat is not None and stat.start_time == start_time


def is_running(pid: int | None, start_time: int | None, boot: str | None) -> bool:
    """The recorded process exists, is the same one, and is not a zombie."""
    if not is_ours(pid, start_time, boot):
        return False
    stat = proc_stat(pid)  # type: ignore[arg-type]
    return stat is not None and stat.state not in ("Z", "X")


def find_runner(run_id: str) -> tuple[int, int] | None:
    """(pid, start time) of the live runner started with ``--run-id run_id``: finds the process of a
    start that was interrupted after the process began but before its pid was recorded."""
    needle = f"--run-id\0{run_id}\0".encode()
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline and RUNNER.encode() in cmdline:
            stat = proc_stat(int(entry.name))
            if stat is not None and stat.state not in ("Z", "X"):
                return int(entry.name), stat.start_time
    return None


def starter() -> dict[str, Any]:
    """This process, recorded as the one starting a process: if it is gone and no process was
    started, the start never happened (no need to wait NEVER_STARTED_S to know it)."""
    stat = proc_stat(os.getpid())
    return {"pid": os.getpid(), "start_time": stat.start_time if stat else None}


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = proc_stat(int(entry.name))
        if stat is not None and stat.pgrp == pgid and stat.state not in ("Z", "X"):
            members.append(int(entry.name))
    return members
