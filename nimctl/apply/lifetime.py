"""``max_lifetime`` on Lepton: the scheduled job that deletes an endpoint when its lifetime ends.

Takes the journal, a provider that can submit/find/delete jobs, and the desired endpoint; gives
the endpoint's lifetime record (``record.extra["lifetime"]``: job name, job id, deadline).

- ``schedule`` (every apply that has the endpoint in scope: a re-apply moves the deadline):
  the intent (job name, new deadline) is recorded on the endpoint's state record *before* the
  submit; the new job is submitted (``time_schedule.start_at`` = now + max_lifetime) and only then
  are the earlier ones of this state deleted, so the endpoint is never without its bound.
- ``unschedule`` (destroy, cleanup, replacement, or max_lifetime removed from the config): every
  lifetime job of this state for the endpoint is deleted, then the record forgets it.

The lifetime jobs are found by their deterministic name (``nimctl.stack.lifetime``) and this
state's ownership marker, never by the recorded id alone: a crash between the intent and the
record leaves nothing the next run cannot find. Jobs of other states are never touched.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, Protocol

from nimctl.apply.journal import Journal
from nimctl.common.checkpoints import checkpoint
from nimctl.providers.base import EndpointInfo, JobInfo, NotFound
from nimctl.stack import ownership
from nimctl.stack.lifetime import lifetime_job_name, render_lifetime_job
from nimctl.stack.resources import DesiredEndpoint
from nimctl.state.model import State


class ScheduledJobs(Protocol):
    """What scheduling needs of a provider."""

    @property
    def workspace_url(self) -> str: ...

    def get_endpoint(self, name: str) -> EndpointInfo: ...

    def submit_job(self, name: str, spec: dict[str, Any]) -> JobInfo: ...

    def find_jobs(self, name: str) -> list[JobInfo]: ...

    def delete_job(self, job_id: str) -> None: ...


@dataclass(frozen=True)
class Scheduled:
    address: str
    job_name: str
    job_id: str
    deadline: float  # epoch seconds: when the job deletes the endpoint
    replaced: int  # earlier lifetime jobs deleted (the deadline moved)


def _ours(jobs: list[JobInfo], lineage: str) -> list[JobInfo]:
    found = []
    for job in jobs:
        marker = ownership.read(job.spec, job.extra.get("labels"))
        if marker is not None and marker.lineage == lineage:
            found.append(job)
    return found


def schedule(
    journal: Journal,
    provider: ScheduledJobs,
    desired: DesiredEndpoint,
    marker: ownership.Marker,
) -> Scheduled:
    """(Re)schedule the lifetime job of ``desired`` (recorded in state) at now + max_lifetime.
    The job deletes the endpoint only if it still has the creation time the platform reports now
    (an endpoint re-created under the name since is left alone)."""
    assert desired.max_lifetime_s is not None and desired.lifetime_job is not None
    address, name = desired.address, lifetime_job_name(desired.name)
    endpoint_created_at = provider.get_endpoint(desired.name).created_at
    deadline = time.time() + desired.max_lifetime_s
    earlier = _ours(provider.find_jobs(name), journal.state.lineage)

    def intent(state: State) -> None:
        record = state.resources[address]
        previous = record.extra.get("lifetime") or {}
        record.extra["lifetime"] = {
            "job_name": name,
            "job_id": previous.get("job_id"),
            "deadline": previous.get("deadline"),
            "max_lifetime_s": desired.max_lifetime_s,
            "moving_to": deadline,
        }

    journal.mutate(intent, touches=(address,))
    checkpoint(f"pending:lifetime:{address}")
    spec = render_lifetime_job(
        desired.lifetime_job,
        start_at=deadline,
        workspace_url=provider.workspace_url,
        endpoint_created_at=endpoint_created_at,
    )
    info = provider.submit_job(name, ownership.mark(spec, marker, local_spec=False))
    for job in earlier:
        if job.id != info.id:
            with contextlib.suppress(NotFound):
                provider.delete_job(job.id)

    def done(state: State) -> None:
        record = state.resources.get(address)
        if record is not None:
            record.extra["lifetime"] = {
                "job_name": name,
                "job_id": info.id,
                "deadline": deadline,
                "max_lifetime_s": desired.max_lifetime_s,
            }

    journal.mutate(done, touches=(address,))
    checkpoint(f"recorded:lifetime:{address}")
    return Scheduled(address, name, info.id, deadline, len([j for j in earlier if j.id != info.id]))


def unschedule(journal: Journal, provider: ScheduledJobs, address: str, endpoint_name: str) -> int:
    """Delete this state's lifetime jobs of the endpoint; returns how many were deleted."""
    name = lifetime_job_name(endpoint_name)
    removed = 0
    for job in _ours(provider.find_jobs(name), journal.state.lineage):
        with contextlib.suppress(NotFound):
            provider.delete_job(job.id)
            removed += 1

    def forget(state: State) -> None:
        record = state.resources.get(address)
        if record is not None:
            record.extra.pop("lifetime", None)

    journal.mutate(forget, touches=(address,))
    return removed


def scheduled_for(record: Any) -> bool:
    """Whether a state record has (or was about to have) a lifetime job."""
    return bool(getattr(record, "extra", {}).get("lifetime"))
