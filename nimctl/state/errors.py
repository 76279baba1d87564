"""Errors about the state file and its lock. All are ``NimctlError``: the user can act on them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nimctl.common.errors import NimctlError

if TYPE_CHECKING:
    from nimctl.state.lockinfo import LockInfo


class StateError(NimctlError):
    """The state file cannot be used as it is (corrupt, unknown version, another lineage, a
    concurrent writer). The file is left untouched."""


class StateWriteError(StateError):
    """The state directory refused a write (read-only, full, an I/O error). ``before_side_effect``
    tells the command whether it may stop cleanly; the message names the file and the OS error."""

    def __init__(self, message: str, hint: str | None = None, *, errno_name: str = "") -> None:
        super().__init__(message, hint)
        self.errno_name = errno_name


class LockedError(StateError):
    """Another nimctl process holds the state lock."""

    def __init__(self, message: str, hint: str | None = None, holder: LockInfo | None = None) -> None:
        super().__init__(message, hint)
        self.holder = holder


class AddressNotInState(StateError):
    """A command named a resource address that the state does not record."""

    def __init__(self, message: str, hint: str | None = None, suggestions: list[str] | None = None) -> None:
        super().__init__(message, hint)
        self.suggestions = suggestions or []


class UnredactedSecretError(RuntimeError):
    """A literal secret value was about to be written to the state file.

    This is a bug in nimctl (every spec must pass through ``nimctl.common.secrets.redact_spec`` first),
    not a user error, so it is deliberately not a ``NimctlError``. The message names only where
    the value is, never the value.
    """
