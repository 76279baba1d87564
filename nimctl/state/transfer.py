"""Moving a state between backends (``nimctl state push`` / ``pull``): a file and PostgreSQL, or
any two locations ``open_state`` understands.

Takes a reader on one side and a writer with its lock on the other; gives the state as stored at
the target. The copy keeps the lineage (the salt of every redacted value in it, so plans stay
"no changes") and goes forward in serial. It is refused when the target holds another state
(another lineage) or a newer version of this one (unless ``force``), and when the source has
interrupted steps (pending entries): settle them first with ``nimctl apply`` or ``destroy``.
"""

from __future__ import annotations

from typing import Protocol

from nimctl.state.backend import StateLocker, StateReader, StateWriter
from nimctl.state.errors import StateError
from nimctl.state.model import State


class Target(StateReader, StateWriter, StateLocker, Protocol):
    """What a copy needs of its target."""


def copy_state(
    source: StateReader, target: Target, *, command: str, force: bool = False, lock_timeout: float = 0.0
) -> State:
    """Make ``target`` hold ``source``'s state; returns it as written. ``command`` names the copy
    in the target's lock ("state push")."""
    if not source.exists():
        raise StateError(f"there is no state at {source.location} to copy", hint="check the path or URL")
    state = source.read()
    if state.pending and not force:
        raise StateError(
            f"the state at {source.location} has {len(state.pending)} interrupted step(s) (pending entries)",
            hint="settle them first (nimctl apply or nimctl destroy against that state), or pass --force",
        )
    with target.lock(command, timeout=lock_timeout):
        current = target.read() if target.exists() else None
        if current is not None and not force:
            if current.lineage != state.lineage:
                raise StateError(
                    f"{target.location} holds another state (lineage {current.lineage}) than {source.location} "
                    f"(lineage {state.lineage}). Nothing was written",
                    hint="pick another target, or pass --force to replace it (what it records is then "
                    "no longer managed)",
                )
            if current.serial > state.serial:
                raise StateError(
                    f"{target.location} holds a newer version of this state (serial {current.serial}) than "
                    f"{source.location} (serial {state.serial}). Nothing was written",
                    hint="pull it first, or pass --force to go back to the older version",
                )
        # Forward from whatever the target holds: its serial check passes, the serial only grows.
        state.serial = max(state.serial, current.serial if current is not None else 0)
        target.write(state, force=force)
    return state
