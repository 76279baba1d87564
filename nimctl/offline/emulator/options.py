"""Emulator settings and request-log records (stdlib only, cheap to import)."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field, fields
from typing import Any


def _random_token() -> str:
    return "emu-" + secrets.token_hex(16)


DEFAULT_NODE_GROUPS = {"emulated-h200": "emulated-h200-ab12cd"}
DEFAULT_SHAPES = (
    "cpu.small",
    "cpu.medium",
    "cpu.large",
    "gpu.a10",
    "gpu.1xh100",
    "gpu.2xh100",
    "gpu.4xh100",
    "gpu.8xh100",
    "gpu.1xh200",
    "gpu.2xh200",
    "gpu.4xh200",
    "gpu.8xh200",
)


@dataclass
class EmulatorOptions:
    """How the emulated workspace behaves. Times are in seconds, rates are probabilities (0..1).

    Changing an option on a running emulator affects later requests and later lifecycle steps;
    transitions already scheduled keep the timing they were scheduled with.
    """

    workspace_id: str = "ws1"
    token: str = field(default_factory=_random_token)
    ready_after: float = 0.2  # Starting/Updating/Restarting -> Ready
    job_duration: float = 0.3  # Running -> Completed/Failed
    queue_time: float = 0.05  # Queueing -> Running
    delete_after: float = 0.2  # Deleting -> gone, Stopping -> Stopped
    error_image_pattern: str | None = None  # regex on container.image: endpoint goes to Error
    error_name_pattern: str | None = None  # regex on the endpoint name: endpoint goes to Error
    fail_job_pattern: str | None = None  # regex on job name, image or command: job goes to Failed
    fault_rate: float = 0.0  # workspace API requests answered 429 or 5xx without being applied
    lost_response_rate: float = 0.0  # POST/PUT/PATCH/DELETE applied, but the client sees a 502
    latency: float = 0.0  # added to every non-admin request
    seed: int | None = None  # makes fault injection reproducible
    endpoint_fault_rate: float = 0.0  # like fault_rate, for the OpenAI mock behind endpoints
    retry_after: int = 1  # the Retry-After header value sent with injected 429s
    # Lepton fails a replica whose env/token secret reference does not exist
    # (CreateContainerConfigError: secret "X" not found), and so does the emulator unless this is off.
    require_secrets: bool = True
    # The workspace's dedicated node groups, name -> id. Affinity takes ids; an id the workspace
    # does not have is refused, as are resource shapes not in ``shapes``.
    node_groups: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_NODE_GROUPS))
    shapes: list[str] = field(default_factory=lambda: list(DEFAULT_SHAPES))
    # features.enable_new_deployment_api: the SDK then speaks /endpoints (HTTPEndpoint) instead of
    # /deployments. Both route families are served either way; the flag decides which the SDK uses.
    new_deployment_api: bool = False
    # Emulated time: seconds added to the emulator's clock. Raising it makes everything due by then
    # happen at once (a job scheduled with time_schedule.start_at hours ahead starts now), so tests
    # advance time instead of sleeping.
    clock_offset: float = 0.0
    # Jobs whose container.image matches this regex run their command for real, as a local process
    # (``python``/``python3`` is this interpreter), with the job's env and its secret references
    # resolved; they finish when the process exits, with its exit code. Others are emulated.
    run_job_images: str | None = None
    # Where those jobs' emulated files live: /results and /workspace of each job (removed when it
    # ends) and the storage its mounts stand for (kept). None: a temporary directory.
    job_files: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


# Options that cannot change on a running emulator: they are part of its URL and credentials.
FIXED_OPTIONS = frozenset({"workspace_id", "token"})


@dataclass(frozen=True)
class RequestRecord:
    """One request the emulator answered, as tests and `/_emulator/requests` see it."""

    method: str
    path: str  # full URL path, e.g. /api/v2/workspaces/ws1/deployments
    query: str  # raw query string ('' when none)
    status: int  # what the client received
    fault: str | None = None  # None, "429", "500", "502", "503" or "lost_response"
    applied_status: int | None = None  # for lost responses: what the operation really returned
    time: float = 0.0  # epoch seconds when the request arrived
    duration: float = 0.0  # seconds spent answering

    @property
    def route(self) -> str:
        """The path below the workspace prefix, e.g. ``/deployments/ep1`` (else the full path)."""
        marker = "/api/v2/workspaces/"
        if self.path.startswith(marker):
            rest = self.path[len(marker) :]
            slash = rest.find("/")
            return rest[slash:] if slash >= 0 else "/"
        return self.path

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["route"] = self.route
        return data
