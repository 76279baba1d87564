"""``LeptonProvider``: ``base.Provider`` on DGX Cloud Lepton (see the package docstring).

Takes credentials and a retry policy (``LeptonClient``); gives the endpoint, job, log and
workspace methods of ``LeptonEndpoints``, ``LeptonJobs``, ``LeptonLogs`` and ``LeptonWorkspace``
on one client, and the per-command state they share.
"""

from __future__ import annotations

from typing import Any

from nimctl.providers.lepton.endpoints import LeptonEndpoints
from nimctl.providers.lepton.jobs import LeptonJobs
from nimctl.providers.lepton.logs import LeptonLogs
from nimctl.providers.lepton.workspace import LeptonWorkspace
from nimctl.providers.retry import RetryPolicy


class LeptonProvider(LeptonEndpoints, LeptonJobs, LeptonLogs, LeptonWorkspace):
    """base.Provider on ``leptonai.api.v2.client.APIClient``."""

    name = "lepton"

    def __init__(
        self,
        *,
        workspace_id: str | None = None,
        token: str | None = None,
        url: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(workspace_id=workspace_id, token=token, url=url, retry=retry)
        # Job ids this provider created or adopted: never adopt one twice for different submits.
        self._claimed_jobs: set[str] = set()
        # Workspace listings (node groups, secrets, shapes), read once per command.
        self._listings: dict[str, Any] = {}
