"""What every command shares: where the state lives, how configs become stacks, and the
providers (created lazily, once, only for the platforms a command actually touches)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from nimctl.cli.ui import UI

if TYPE_CHECKING:
    from nimctl.providers.base import Provider
    from nimctl.stack.resources import Stack
    from nimctl.state.backend import StateBackend

DEFAULT_STATE_PATH = "state/nimctl.state.json"


def resolve_state_path(cli_value: str | None) -> str:
    """Where the state lives: ``--state``, else ``NIMCTL_STATE``, else the default file. A
    ``postgresql://`` URL names a state in PostgreSQL; anything else is a file path."""
    return cli_value or os.environ.get("NIMCTL_STATE") or DEFAULT_STATE_PATH


@dataclass
class RunContext:
    state_path: str  # a file path or a postgresql:// URL
    ui: UI
    lock_timeout: float = 0.0
    _providers: dict[str, Provider] = field(default_factory=dict)
    _store: StateBackend | None = None

    @property
    def state_dir(self) -> Path:
        """Where the local platform keeps its registry and logs: beside a state file; for a
        state in PostgreSQL, the default state directory."""
        from nimctl.state.backend import is_url

        if is_url(self.state_path):
            return Path(DEFAULT_STATE_PATH).parent
        return Path(self.state_path).parent

    @property
    def store(self) -> StateBackend:
        if self._store is None:
            from nimctl.state.backend import open_state

            self._store = open_state(self.state_path)
        return self._store

    @property
    def state_location(self) -> str:
        """The state's location for messages (a URL without its password)."""
        return self.store.location if self._store is not None else self.state_path

    def provider(self, platform: str) -> Provider:
        if platform not in self._providers:
            from nimctl.providers.registry import get_provider

            self._providers[platform] = get_provider(platform, state_dir=str(self.state_dir))
        return self._providers[platform]

    def providers_for(self, platforms: set[str]) -> dict[str, Provider]:
        return {p: self.provider(p) for p in sorted(platforms)}


class Warns(Protocol):
    """Where config warnings go: the UI, or an apply/destroy view."""

    def warn(self, text: str) -> None: ...


def load_stacks(files: list[str], overrides: list[str], ui: Warns) -> list[Stack]:
    """Config files → validated, typed stacks. Raises ConfigError (nothing else is touched)."""
    from nimctl.config.loader import load_configs
    from nimctl.stack.builder import build_stacks

    loaded = load_configs(files, overrides)
    for cfg in loaded:
        for problem in cfg.warnings:
            ui.warn(problem.render())
    stacks = build_stacks(loaded)
    for stack in stacks:
        for warning in stack.warnings:
            ui.warn(f"{stack.source_file}: {warning}")
    return stacks


def state_info(ctx: RunContext, state: Any) -> dict[str, Any]:
    """Which state a command read, for its --json document."""
    return {
        "locator": ctx.store.locator,
        "exists": ctx.store.exists(),
        "lineage": state.lineage,
        "serial": state.serial,
    }


def state_banner(ctx: RunContext, state: Any) -> str:
    """The first line of plan, apply, destroy and status: which state they read."""
    return banner(ctx.store.locator, ctx.store.exists(), state.lineage, state.serial)


def banner(locator: str, exists: bool, lineage: str, serial: int) -> str:
    if not exists:
        return f"State: {locator} (no state file yet)"
    return f"State: {locator} (lineage {lineage[:8]}, serial {serial})"


def untracked_text(untracked: dict[str, Any]) -> str:
    """The hint after "Nothing to destroy." / "No invocations recorded." when the platforms hold
    objects nimctl made that this state does not record (``nimctl.apply.gc.untracked``)."""
    return (
        f"{untracked['count']} object(s) nimctl made on {', '.join(untracked['platforms'])} are not recorded by "
        f"this state ({untracked['orphans']} orphaned): `nimctl gc --dry-run` lists them, `nimctl gc` removes "
        "the orphans."
    )
