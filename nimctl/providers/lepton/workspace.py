"""What a Lepton workspace offers: its dedicated node groups, secrets and resource shapes.

``LeptonWorkspace`` lists each once per command (the preflight checks of ``nimctl.plan.preflight``
read them) and keeps the listing for the provider's lifetime.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from nimctl.providers.lepton.client import LeptonClient

T = TypeVar("T")


class LeptonWorkspace(LeptonClient):
    """Workspace listings, read once per command."""

    # listing -> the SDK's answer; created by LeptonProvider.__init__.
    _listings: dict[str, Any]

    def _listed(self, key: str, fetch: Callable[[], T], what: str) -> T:
        cached = self._listings.get(key)
        if cached is None:
            cached = self._listings[key] = self._call(
                fetch, action="list", resource=f"the {what} of workspace {self.workspace}", budget=self._budget()
            )
        return cached  # type: ignore[no-any-return]

    def node_groups(self) -> dict[str, str]:
        """The workspace's dedicated node groups, name -> id."""
        groups = self._listed("node_groups", lambda: self.client.nodegroup.list_all(), "node groups")
        return {g.metadata.name or g.metadata.id_: g.metadata.id_ for g in groups if g.metadata and g.metadata.id_}

    def secret_names(self) -> set[str]:
        secrets = self._listed("secrets", lambda: self.client.secret.list_all(), "secrets")
        return {s.name for s in secrets}

    def shape_names(self) -> set[str]:
        shapes = self._listed("shapes", lambda: self.client.shapes.list_shapes(), "resource shapes")
        return {s.metadata.name or s.spec.name for s in shapes if s.metadata and (s.metadata.name or s.spec.name)}
