"""Record a plan's outcomes into a state the way a successful apply does (through
nimctl.state.records), with the platform answering as a MemoryPlatform."""

from __future__ import annotations

import hashlib

from nimctl.plan import Plan
from nimctl.providers.base import JobState
from nimctl.stack.resources import DesiredEndpoint, DesiredJob
from nimctl.state.model import State
from nimctl.state.records import forget, record_endpoint, record_job
from tests.plan.factories import endpoint_info, job_info
from tests.plan.fakes import MemoryPlatform


def apply_outcomes(
    plan: Plan,
    state: State,
    platform: MemoryPlatform | None = None,
    *,
    invocation_id: str = "0123456789abcdef",
    job_state: JobState = JobState.SUCCEEDED,
) -> None:
    salt = state.lineage
    for change in plan.changes:
        if change.actions[0] == "delete":
            record = forget(state, change.address)
            if platform is not None and record is not None:
                if change.type == "endpoint":
                    platform.endpoints.pop(record.name, None)
                else:
                    platform.jobs.pop(record.platform_id or "", None)
    for change in plan.changes:
        if change.actions[-1] not in ("create", "update"):
            continue
        desired = plan.desired[change.address]
        if isinstance(desired, DesiredEndpoint):
            info = endpoint_info(desired)
            record_endpoint(state, desired, info, invocation_id=invocation_id, salt=salt)
            if platform is not None:
                platform.add_endpoint(info)
    for change in plan.changes:
        desired = plan.desired.get(change.address)
        if isinstance(desired, DesiredJob) and change.actions[-1] == "create":
            # deterministic ids (golden files depend on them), new for every run of an address
            runs = state.resources.get(change.address)
            seed = f"{change.address}|{desired.inputs_hash}|{runs.platform_id if runs else ''}"
            job_id = "job-" + hashlib.sha256(seed.encode()).hexdigest()[:10]
            info = job_info(desired, job_id=job_id, state=job_state, name=f"eval-{invocation_id[:6]}-{desired.task}")
            record_job(state, desired, info, invocation_id=invocation_id, salt=salt)
            if platform is not None:
                platform.add_job(info)
    state.pending.clear()
