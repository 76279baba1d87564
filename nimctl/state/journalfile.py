"""The write-ahead journal beside a state file, ``<state>.journal``: a journal step is an append
to it, not a rewrite of the whole state, so a step costs I/O in proportion to what it changed.

The first line is a header ``{"nimctl_journal": 1, "lineage": ..., "base_serial": N}`` (the
state file's serial the steps start from); each further line is one step,
``{"serial": N+k, "delta": ...}`` (a delta, see ``nimctl.state.delta``), fdatasync'ed before
``append`` returns. ``replay`` applies the steps to the document read from the state file. A
torn last line (a kill in the middle of an append) is a step that never returned, and is
ignored; a journal of another lineage or of an older base is left over from a compaction that
did not get to remove it (``stale``), and is ignored too.

``JournalFile`` takes the journal's path and the state file's (for messages) and keeps what the
store needs to know of it: how many steps it holds, the serial they reach, whether it is stale.
The store decides when to append, and folds the journal into the state file (then ``drop``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nimctl.common.files import fsync_directory
from nimctl.state.errors import StateError

if TYPE_CHECKING:
    from nimctl.state.delta import Delta
    from nimctl.state.model import State


class JournalFile:
    """The journal of one state file, as this process knows it."""

    def __init__(self, path: Path, state_path: Path) -> None:
        self.path = path
        self.state_path = state_path
        # Steps since the state file's serial, the serial they reach, whether the journal on disk
        # is left over from a finished compaction, and the open descriptor.
        self.steps = 0
        self.serial = 0
        self.stale = False
        self.fd: int | None = None
        # (size before, size after, serial) of the append in flight, until its bookkeeping is done.
        self._appending: tuple[int, int, int] | None = None

    def replay(self, data: dict[str, Any]) -> int | None:
        """Apply the journal's steps to the state document ``data`` (in place); how many there were.
        None when the journal starts after the file's serial (the file was compacted meanwhile)."""
        self.steps, self.stale = 0, False
        try:
            with open(self.path, "rb") as fh:
                text = fh.read()
        except FileNotFoundError:
            return 0
        lines = text.split(b"\n")
        complete, torn = lines[:-1], lines[-1]  # the part after the last newline never returned
        if not complete:
            self.stale = bool(torn)
            return 0
        try:
            header = json.loads(complete[0])
            lineage, base = header["lineage"], header["base_serial"]
        except (ValueError, KeyError, TypeError) as err:
            raise self._damaged("has no valid first line (lineage and base serial)") from err
        if lineage != data["lineage"] or base < data["serial"]:
            self.stale = True  # left by a compaction that did not get to remove it
            return 0
        if base > data["serial"]:
            return None
        from nimctl.state.delta import apply_delta

        serial = base
        for number, line in enumerate(complete[1:], start=2):
            try:
                step = json.loads(line)
                if step["serial"] != serial + 1:
                    raise ValueError(f"serial {step['serial']} after {serial}")
                apply_delta(data, step["delta"])
            except (ValueError, KeyError, TypeError, AttributeError) as err:
                raise self._damaged(f"has an unreadable step on line {number} ({err})") from err
            serial += 1
        data["serial"] = serial
        self.steps = serial - base
        return self.steps

    def _damaged(self, what: str) -> StateError:
        return StateError(
            f"the state journal {self.path} {what}. nimctl never overwrites a state it cannot "
            "read; nothing was changed",
            hint=f"{self.state_path} holds the state before the journaled steps: move the journal away to use it "
            "(then run `nimctl plan` to see what the platform has that the state no longer records)",
        )

    def append(self, state: State, delta: Delta, *, base_serial: int) -> None:
        """Append ``delta`` as step ``state.serial`` + 1 and fdatasync it; ``state.serial`` is then
        that step's. ``base_serial``: the state file's serial (the header of a new journal)."""
        fd = self._descriptor(state.lineage, base_serial)
        target = state.serial + 1
        line = f'{{"serial":{target},"delta":{delta.to_json()}}}\n'.encode()
        before = os.fstat(fd).st_size
        self._appending = (before, before + len(line), target)
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
        os.fdatasync(fd)
        state.serial = target
        self.serial = target
        self.steps += 1
        self._appending = None

    def settle(self, state: State) -> None:
        """An append whose bookkeeping a signal cut short: landed whole (then ``state`` is one
        serial further; the next delta repeats its change, which is harmless), not at all, or
        partly (then the torn part is cut off)."""
        appending, self._appending = self._appending, None
        if appending is None or self.fd is None:
            return
        before, after, target = appending
        size = os.fstat(self.fd).st_size
        if size >= after:
            if state.serial == target - 1:
                state.serial = target
            self.serial, self.steps = target, self.steps + 1
        elif size != before:
            os.ftruncate(self.fd, before)

    def _descriptor(self, lineage: str, base_serial: int) -> int:
        if self.fd is not None:
            return self.fd
        if self.steps == 0:
            self.path.unlink(missing_ok=True)  # a leftover of a finished compaction
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if os.fstat(fd).st_size == 0:
            header = {"nimctl_journal": 1, "lineage": lineage, "base_serial": base_serial}
            os.write(fd, (json.dumps(header) + "\n").encode())
            fsync_directory(self.path.parent)
        self.fd = fd
        return fd

    def drop(self, serial: int | None) -> None:
        """The state file now holds every step: the journal goes (a crash before the unlink leaves
        a journal whose base is older than the file, which readers ignore). ``serial``: the state
        file's, which the (empty) journal now reaches (None: unknown, left as it is)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.path.unlink(missing_ok=True)
        self.steps, self.stale = 0, False
        if serial is not None:
            self.serial = serial
