"""What the apply and destroy engines need from the command that runs them: the state store,
how long to wait for its lock, the directory beside the state, and the providers for a set of platforms. ``cli.context.RunContext``
is one; tests pass their own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from nimctl.providers.base import Provider
    from nimctl.state.backend import StateBackend


class Workspace(Protocol):
    @property
    def store(self) -> StateBackend: ...

    @property
    def lock_timeout(self) -> float: ...

    @property
    def state_dir(self) -> Path:
        """Where files beside the state go (the results cache)."""
        ...

    def providers_for(self, platforms: set[str]) -> dict[str, Provider]: ...
