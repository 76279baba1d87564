"""Which provider serves a platform: takes a platform name ("lepton" | "local") and a state
directory; gives the ``Provider`` for it. The implementation is imported only when it is asked for,
so commands that never talk to a platform never import its SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nimctl.common.errors import NimctlError
from nimctl.stack.resources import PLATFORMS

if TYPE_CHECKING:  # pragma: no cover
    from nimctl.providers.base import Provider


def get_provider(platform: str, *, state_dir: str) -> Provider:
    """The provider for ``platform`` ("lepton" | "local").

    Lepton credentials come from the environment or the `lep login` record (resolved on first
    use); the retry policy from NIMCTL_RETRY_MAX_ATTEMPTS / NIMCTL_RETRY_MAX_SECONDS if set.
    The local provider keeps its process registry and logs under ``state_dir``.
    """
    if platform == "lepton":
        from nimctl.providers.lepton.provider import LeptonProvider

        return LeptonProvider()
    if platform == "local":
        from nimctl.providers.local.provider import LocalProvider

        return LocalProvider(state_dir)
    raise NimctlError(f"unknown platform {platform!r}", hint=f"set execution.type to one of: {', '.join(PLATFORMS)}")
