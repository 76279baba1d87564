"""How an applied outcome is written into the state — what "applied" means.

The applier calls these after each successful provider call (inside the journal step that clears
the pending entry). The planner's notion of "no changes" is defined against exactly what these
functions store: a resource recorded here from the desired resource that was sent plans as
``no-op`` next time (tests/plan checks this as a property).

- An endpoint's applied spec is the desired spec *as sent*, redacted with the state's lineage as
  salt (never the live spec: that carries server-populated fields, which are drift's business).
- A job's applied spec is the rendered spec that was submitted (redacted); its ``inputs_hash``
  is the desired job's, so a finished job with the same hash is up to date.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from nimctl.common.secrets import redact_spec
from nimctl.providers.base import EndpointInfo, JobInfo
from nimctl.stack.resources import DesiredEndpoint, DesiredJob
from nimctl.state.model import PendingEntry, ResourceRecord, State, now


def endpoint_spec_hash(redacted_spec: dict[str, Any]) -> str:
    """The ``inputs_hash`` recorded for an endpoint: sha256 of its redacted spec (sorted keys).
    Also what apply puts in an endpoint's pending entry, so an adopted endpoint hashes alike."""
    return hashlib.sha256(json.dumps(redacted_spec, sort_keys=True).encode()).hexdigest()


def observed_endpoint(info: EndpointInfo) -> dict[str, Any]:
    return {
        "state": info.state.value,
        "platform_state": info.platform_state,
        "url": info.url,
        "ready_replicas": info.ready_replicas,
        "at": now(),
    }


def observed_job(info: JobInfo) -> dict[str, Any]:
    return {
        "state": info.state.value,
        "platform_state": info.platform_state,
        "created_at": info.created_at,
        "finished_at": info.finished_at,
        "at": now(),
    }


def record_endpoint(
    state: State, desired: DesiredEndpoint, info: EndpointInfo, *, invocation_id: str | None, salt: str
) -> ResourceRecord:
    """Record that ``desired`` was created or updated and the platform answered ``info``.

    An update in place (same address, name and provider already recorded) keeps the record's
    creation time; ``invocation_id`` is stored as given (pass the original creator's id for an
    update so that ``destroy <creator>`` still finds it).
    """
    spec = redact_spec(desired.spec, salt)
    previous = state.resources.get(desired.address)
    same_object = previous is not None and previous.name == desired.name and previous.provider == desired.platform
    record = ResourceRecord(
        address=desired.address,
        type="endpoint",
        provider=desired.platform,
        stack=desired.stack,
        name=desired.name,
        platform_id=desired.name,
        spec=spec,
        inputs_hash=endpoint_spec_hash(spec),
        observed=observed_endpoint(info),
        invocation_id=invocation_id,
        created_at=previous.created_at if same_object and previous else now(),
        extra={**dict(info.extra), "served_model_name": desired.served_model_name, "source_file": desired.source_file},
    )
    if same_object and previous is not None and "lifetime" in previous.extra:
        # the max_lifetime job scheduled for this endpoint (nimctl.apply.lifetime) stays known
        record.extra["lifetime"] = previous.extra["lifetime"]
    state.resources[desired.address] = record
    return record


def record_job(
    state: State,
    desired: DesiredJob,
    info: JobInfo,
    *,
    invocation_id: str,
    salt: str,
    spec: dict[str, Any] | None = None,
) -> ResourceRecord:
    """Record that ``desired`` was submitted as ``info`` (a new run replaces the previous run's
    record). ``spec`` is the rendered spec that was sent; without it the platform's echo of the
    spec (or, failing that, the desired template) is kept."""
    sent = spec if spec is not None else (info.spec or desired.spec_template)
    record = ResourceRecord(
        address=desired.address,
        type="job",
        provider=desired.platform,
        stack=desired.stack,
        name=info.name,
        platform_id=info.id,
        spec=redact_spec(sent, salt),
        inputs_hash=desired.inputs_hash,
        observed=observed_job(info),
        invocation_id=invocation_id,
        extra={
            "task": desired.task,
            "resolved_task": desired.resolved_task,
            "endpoint": f"endpoint.{desired.endpoint}" if desired.endpoint else None,
            "source_file": desired.source_file,
        },
    )
    state.resources[desired.address] = record
    return record


def update_endpoint_observation(state: State, address: str, info: EndpointInfo) -> None:
    """Store the latest live view of a recorded endpoint (its applied spec is untouched)."""
    record = state.resources.get(address)
    if record is not None:
        record.observed = observed_endpoint(info)
        record.updated_at = now()


def update_job_observation(state: State, address: str, info: JobInfo | None) -> None:
    """Store the latest live view of a recorded job; ``None`` means the platform no longer has it."""
    record = state.resources.get(address)
    if record is None:
        return
    if info is None:
        record.observed = {**record.observed, "state": "gone", "platform_state": "not found", "at": now()}
    else:
        record.observed = observed_job(info)
    record.updated_at = now()


def adopt_pending(state: State, entry: PendingEntry, info: EndpointInfo | JobInfo) -> ResourceRecord:
    """Record the object an interrupted create/submit left live (found by the entry's name) as if
    that call had returned ``info``: the entry's redacted spec and inputs hash become the applied ones."""
    if isinstance(info, JobInfo):
        observed, platform_id = observed_job(info), info.id
    else:
        observed, platform_id = observed_endpoint(info), entry.name
    inputs_hash = entry.inputs_hash
    if entry.type == "endpoint" and not inputs_hash:
        inputs_hash = endpoint_spec_hash(entry.spec)
    record = ResourceRecord(
        address=entry.address,
        type=entry.type,
        provider=entry.provider,
        stack=entry.stack,
        name=entry.name,
        platform_id=platform_id,
        spec=dict(entry.spec),
        inputs_hash=inputs_hash,
        observed=observed,
        invocation_id=entry.invocation_id,
        extra=dict(info.extra),
    )
    state.resources[entry.address] = record
    return record


def forget(state: State, address: str, *, name: str | None = None) -> ResourceRecord | None:
    """Remove ``address`` from the state (after the object is confirmed gone, or on `state rm`).
    With ``name``, only if the record still names that platform object."""
    record = state.resources.get(address)
    if record is None or (name is not None and record.name != name):
        return None
    return state.resources.pop(address)
