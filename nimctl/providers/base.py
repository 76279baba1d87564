"""The platform interface every provider implements (Lepton, local).

A provider is a thin, typed, retrying view of one platform. It knows nothing of state files,
plans or invocations: the planner and applier decide *what* to do, a provider only does it and
reports what it sees. Specs cross this boundary as the exact JSON the platform takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, runtime_checkable

from nimctl.common.errors import NimctlError


class ResourceState(str, Enum):
    """nimctl's own view of a platform object's state; every platform state maps onto one."""

    READY = "ready"  # endpoint serving / job still fine (for a job, see JobState)
    PENDING = "pending"  # on its way (starting, updating, scaling, queued)
    FAILED = "failed"  # platform reports an error
    STOPPED = "stopped"  # stopped, stopping, or being deleted
    GONE = "gone"  # does not exist (deleted)
    UNKNOWN = "unknown"  # a state nimctl does not recognise


class JobState(str, Enum):
    """A job's lifecycle as nimctl sees it."""

    PENDING = "pending"  # queued, starting, awaiting
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # Completed
    FAILED = "failed"
    STOPPED = "stopped"  # stopped, stopping, being deleted
    GONE = "gone"
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.STOPPED, JobState.GONE)


@dataclass(frozen=True)
class EndpointInfo:
    """An endpoint as the platform reports it."""

    name: str
    state: ResourceState
    platform_state: str  # the platform's own word, e.g. "Not Ready"
    url: str | None  # where clients reach it (external endpoint / http://127.0.0.1:PORT)
    spec: dict[str, Any]  # the live spec, as the platform returns it
    ready_replicas: int | None = None
    created_at: float | None = None  # epoch seconds
    extra: dict[str, Any] = field(default_factory=dict)  # provider-specific (pid, start time, ...)


@dataclass(frozen=True)
class JobInfo:
    """A job as the platform reports it. The platform assigns ``id``; nimctl chooses ``name``."""

    id: str
    name: str
    state: JobState
    platform_state: str
    spec: dict[str, Any]
    created_at: float | None = None
    finished_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ProviderError(NimctlError):
    """A platform call failed. ``resource`` names what it was about."""

    def __init__(
        self, message: str, *, resource: str | None = None, hint: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, hint)
        self.resource = resource
        self.status = status


class NotFound(ProviderError):
    """The object does not exist on the platform."""


class Conflict(ProviderError):
    """The name is taken by an object nimctl cannot adopt (or one still being deleted)."""


class Transient(ProviderError):
    """Retryable: rate limit, 5xx, network fault, timeout. Raised only once retries ran out."""


class Rejected(ProviderError):
    """Permanent refusal, e.g. 400/422: the request itself is wrong. Do not retry."""


class Unauthorized(ProviderError):
    """Credentials missing, wrong or lacking permission."""


@runtime_checkable
class Provider(Protocol):
    """One platform. Methods raise the ProviderError subclasses above, nothing else."""

    name: str  # "lepton" | "local"

    # -- endpoints -------------------------------------------------------------------------
    def list_endpoints(self) -> list[EndpointInfo]:
        """Every endpoint on the platform, in one listing call (refresh uses only this)."""
        ...

    def get_endpoint(self, name: str) -> EndpointInfo:
        """The endpoint called ``name``; NotFound if there is none."""
        ...

    def create_endpoint(self, name: str, spec: dict[str, Any]) -> EndpointInfo:
        """Create it; after an ambiguous failure look it up by name instead of creating twice.
        Conflict if the name exists with a different spec."""
        ...

    def update_endpoint(self, name: str, spec: dict[str, Any]) -> EndpointInfo:
        """Change the in-place-updatable fields of an existing endpoint to ``spec``'s values."""
        ...

    def delete_endpoint(self, name: str) -> None:
        """Start deleting it; NotFound if it is already gone (callers treat that as done)."""
        ...

    def endpoint_events(self, name: str, limit: int = 10) -> list[str]:
        """The platform's latest events for the endpoint, newest last, for error messages."""
        ...

    # -- jobs ------------------------------------------------------------------------------
    def submit_job(self, name: str, spec: dict[str, Any]) -> JobInfo:
        """Submit a run-to-completion job; after an ambiguous failure find it by name first."""
        ...

    def get_job(self, job_id: str) -> JobInfo:
        """The job with this platform id; NotFound if there is none."""
        ...

    def find_jobs(self, name: str) -> list[JobInfo]:
        """Jobs whose name is ``name`` (names are not unique on every platform)."""
        ...

    def list_jobs(self) -> list[JobInfo]:
        """Every job on the platform, in as few paged listing calls as the platform allows."""
        ...

    def stop_job(self, job_id: str) -> None:
        """Ask the job to stop; NotFound if it is gone."""
        ...

    def delete_job(self, job_id: str) -> None:
        """Delete the job; NotFound if it is already gone."""
        ...

    # -- logs ------------------------------------------------------------------------------
    def logs(self, *, endpoint: str | None = None, job_id: str | None = None, limit: int = 200) -> list[str]:
        """Recent log lines of one endpoint or one job, oldest first."""
        ...
