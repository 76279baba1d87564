"""Where a state lives, as small interfaces (after Terraform's statemgr Reader/Writer/Locker).

Two backends implement them: a file (``nimctl.state.store.StateStore``, the default) and a table
set in PostgreSQL (``nimctl.state.postgres.PostgresState``, for a team sharing one state). Code
asks for the smallest interface it needs: ``plan``, ``show`` and ``status`` a ``StateReader``;
``force-unlock`` a ``StateLocker``; ``state push``/``pull`` a reader on one side and a
``StateWriter`` and ``StateLocker`` on the other; the apply journal a ``StateAppender``.

``open_state(location)`` takes what ``--state`` / ``NIMCTL_STATE`` say (a path, or a
``postgresql://`` URL) and gives the backend. psycopg is imported only for a URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from nimctl.state.delta import Delta
    from nimctl.state.lockinfo import LockInfo
    from nimctl.state.model import State, Version

URL_SCHEMES = ("postgresql://", "postgres://")


@runtime_checkable
class StateReader(Protocol):
    """Reads the current state (never needs the lock: a reader sees one whole version)."""

    @property
    def location(self) -> str: ...  # for messages: a path, or a URL without its password

    def exists(self) -> bool: ...

    def read(self) -> State: ...


@runtime_checkable
class StateWriter(Protocol):
    """Persists a whole state as the next serial. A compare-and-swap: refused (``StateError``)
    when the stored state moved past ``state.serial`` or belongs to another lineage (``force``
    allows another lineage, for ``state push --force``)."""

    def write(self, state: State, *, force: bool = False) -> None: ...

    def check_writable(self) -> None: ...  # before a command's first side effect


@runtime_checkable
class StateAppender(Protocol):
    """Persists one journal step as a delta (O(what changed)), then the state is ``state.serial``
    + 1. ``compact`` folds the steps into one whole version (the end of a command does it)."""

    def append(self, state: State, delta: Delta) -> None: ...

    def compact(self) -> None: ...


@runtime_checkable
class StateLocker(Protocol):
    """One writer at a time; a refusal (``LockedError``) names the holder."""

    def lock(self, command: str, timeout: float = 0.0) -> AbstractContextManager[LockInfo]: ...

    def lock_holder(self) -> LockInfo | None: ...

    def force_unlock(self, lock_id: str) -> None: ...


@runtime_checkable
class StateHistory(Protocol):
    """Every serial's version stays readable."""

    def versions(self, limit: int | None = None) -> list[Version]: ...

    def read_version(self, serial: int) -> State: ...


class StateBackend(StateReader, StateWriter, StateAppender, StateLocker, Protocol):
    """What a command that changes the state (apply, destroy, state rm) needs."""

    @property
    def locator(self) -> str: ...  # how ownership markers name the state (no credentials)


def is_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(URL_SCHEMES)


def open_state(location: str | Path) -> StateBackend:
    """The backend for a ``--state`` value: a ``postgresql://`` URL or a file path."""
    if is_url(location):
        from nimctl.state.postgres import PostgresState

        return PostgresState(str(location))
    from nimctl.state.store import StateStore

    return StateStore(Path(location))


def iter_protocols() -> Iterator[type]:
    """The interfaces (tests check that both backends implement each)."""
    yield from (StateReader, StateWriter, StateAppender, StateLocker)
