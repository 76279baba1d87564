"""``LocalProvider``: ``base.Provider`` on this machine's processes (see the package docstring).

Takes the state directory (the registry goes to ``<state_dir>/local/``), the stop grace period
(else NIMCTL_LOCAL_GRACE_S, else 10 s) and the health-check timeout; gives the endpoint and job
methods of ``LocalEndpoints`` and ``LocalJobs``, and their logs.
"""

from __future__ import annotations

from pathlib import Path

from nimctl.providers.base import NotFound, Rejected
from nimctl.providers.capabilities import LOCAL_UPDATABLE_ENDPOINT_FIELDS
from nimctl.providers.local.endpoints import LocalEndpoints
from nimctl.providers.local.jobs import LocalJobs
from nimctl.providers.local.registry import read_json, tail_lines
from nimctl.providers.local.specs import check_name

# Local endpoints cannot change in place: the planner replaces them on any spec change.
UPDATABLE_ENDPOINT_FIELDS: frozenset[str] = LOCAL_UPDATABLE_ENDPOINT_FIELDS


class LocalProvider(LocalEndpoints, LocalJobs):
    """Endpoints and jobs as detached local processes, tracked in ``<state_dir>/local/``."""

    name = "local"

    def __init__(
        self, state_dir: str | Path, *, grace_period: float | None = None, health_timeout: float = 1.0
    ) -> None:
        super().__init__(state_dir, grace_period=grace_period)
        self.health_timeout = health_timeout

    # -- logs --------------------------------------------------------------------------------------

    def logs(self, *, endpoint: str | None = None, job_id: str | None = None, limit: int = 200) -> list[str]:
        if (endpoint is None) == (job_id is None):
            raise Rejected("logs: give exactly one of endpoint= or job_id=")
        if endpoint is not None:
            check_name("endpoint", endpoint)
            path = self.endpoint_log_path(endpoint)
            if read_json(self._endpoint_path(endpoint)) is None and not path.exists():
                raise NotFound(f"local endpoint {endpoint} does not exist", resource=endpoint)
            return tail_lines(path, limit)
        record = self._job_record(str(job_id))
        return tail_lines(Path(record["log"]), limit)
