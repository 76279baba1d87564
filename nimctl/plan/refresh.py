"""Refresh: read what nimctl manages from the live platforms, with listing calls only.

For each provider that the state (resources or journal) actually uses, at most one
``list_endpoints`` and one ``list_jobs`` call is made, however many resources there are; a
provider nothing uses is not touched (and, given a factory, not even created). Jobs that already
ended (succeeded, failed, stopped) are not looked up: their outcome is final.

Each state resource is classified — unchanged, drifted (live differs from applied in a field
nimctl manages; fields the platform fills in on its own are ignored), deleted outside nimctl — and
each pending journal entry is resolved against what is live (a lost create found live is adopted,
a delete that already happened is done, ...). Nothing is written anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from nimctl.common.errors import NimctlError
from nimctl.common.secrets import redact_spec
from nimctl.plan.canonical import digest
from nimctl.plan.diff import FieldChange, diff_specs, live_view
from nimctl.providers.base import (
    EndpointInfo,
    JobInfo,
    JobState,
    Provider,
    ProviderError,
    ResourceState,
    Transient,
    Unauthorized,
)
from nimctl.stack import ownership
from nimctl.stack.resources import DesiredEndpoint
from nimctl.state.model import Op, PendingEntry, ResourceRecord, State

ProviderSource = Mapping[str, Provider] | Callable[[str], Provider]


class RefreshStatus(str, Enum):
    """What refresh found for one resource of the state. A str enum: plan JSON and plan files
    show its value (a drift item is DRIFTED or DELETED)."""

    UNCHANGED = "unchanged"
    DRIFTED = "drifted"
    DELETED = "deleted"  # gone from the platform, not by nimctl
    NOT_REFRESHED = "not refreshed"  # a job that already ended: its outcome is final

    def __str__(self) -> str:
        return self.value

    @property
    def was_read(self) -> bool:
        """Whether the live platform was looked at (the plan relied on what it showed)."""
        return self is not RefreshStatus.NOT_REFRESHED


# Job states whose outcome is final: never looked up again.
ENDED_JOB_STATES = frozenset(
    {JobState.SUCCEEDED.value, JobState.FAILED.value, JobState.STOPPED.value, JobState.GONE.value}
)


class RefreshError(NimctlError):
    """A platform could not be read; names the platform and what was being listed."""


@dataclass(frozen=True)
class ObservedResource:
    """What refresh found for one resource of the state."""

    address: str
    type: str  # "endpoint" | "job"
    provider: str
    name: str
    status: RefreshStatus
    live: EndpointInfo | JobInfo | None = None
    drift: tuple[FieldChange, ...] = ()  # old = applied, new = live (endpoints)
    live_spec: dict[str, Any] | None = None  # endpoints: live values of the managed fields, redacted
    fingerprint: str = ""  # of what the plan's decision depends on (plan files check it)

    @property
    def job_state(self) -> str | None:
        return self.live.state.value if isinstance(self.live, JobInfo) else None


@dataclass(frozen=True)
class ObservedPending:
    """A journal entry of an interrupted run, resolved against the live platform."""

    entry: PendingEntry
    resolution: PendingResolution
    live: EndpointInfo | JobInfo | None = None
    live_spec: dict[str, Any] | None = None
    fingerprint: str = ""

    def describe(self) -> str:
        return describe_pending(self.entry, self.resolution)


class PendingResolution(str, Enum):
    """How a pending journal entry resolves against what is live. A str enum: plan JSON and plan
    files show its value. ``resolve_pending`` is the one place it is decided: the plan shows it and
    apply's recovery (``nimctl.apply.recovery``) carries out the same decision."""

    ADOPT = "adopt"
    NOT_CREATED = "not created"
    DELETE_AGAIN = "delete again"
    ALREADY_DELETED = "already deleted"
    STOP_AGAIN = "stop again"
    ALREADY_STOPPED = "already stopped"
    DROP = "drop"
    UNRESOLVED = "unresolved"  # refresh disabled: not decided yet

    def __str__(self) -> str:
        return self.value

    @property
    def promise(self) -> str:
        """What apply will do about it, as the plan says."""
        return _PROMISES[self]


_PROMISES: dict[PendingResolution, str] = {
    PendingResolution.ADOPT: "it exists live: it will be adopted into the state, not created again",
    PendingResolution.NOT_CREATED: "it never reached the platform: the entry will be dropped",
    PendingResolution.DELETE_AGAIN: "it still exists: the delete will be issued again",
    PendingResolution.ALREADY_DELETED: "it is gone: it will be forgotten",
    PendingResolution.STOP_AGAIN: "it is still running: the stop will be issued again",
    PendingResolution.ALREADY_STOPPED: "it is no longer running: the entry will be dropped",
    PendingResolution.DROP: "the update is dropped; the plan shows it again if the live object lacks it",
    PendingResolution.UNRESOLVED: "not checked (refresh disabled); the next apply settles it against the platform",
}


def resolve_pending(entry: PendingEntry, live: EndpointInfo | JobInfo | None, *, proven: bool) -> PendingResolution:
    """How ``entry`` resolves, given the live object found under its name (None: none is live) and
    whether that object carries this invocation's ownership marker (``proven``): a lost create is
    adopted only then, since an object of the same name made by anyone else is never taken for ours.
    A job's create is its submit (both start a run)."""
    creates = (Op.SUBMIT, Op.CREATE) if entry.type == "job" else (Op.CREATE,)
    if entry.op in creates:
        return PendingResolution.ADOPT if live is not None and proven else PendingResolution.NOT_CREATED
    if entry.op is Op.DELETE:
        return PendingResolution.DELETE_AGAIN if live is not None else PendingResolution.ALREADY_DELETED
    if entry.op is Op.STOP and entry.type == "job":
        running = isinstance(live, JobInfo) and not live.state.terminal
        return PendingResolution.STOP_AGAIN if running else PendingResolution.ALREADY_STOPPED
    return PendingResolution.DROP


def describe_pending(entry: PendingEntry, resolution: PendingResolution) -> str:
    kind = "job" if entry.type == "job" else "endpoint"
    return (
        f"{entry.address}: an interrupted {entry.op} of {kind} {entry.name} "
        f"(invocation {entry.invocation_id}); {resolution.promise}"
    )


@dataclass(frozen=True)
class Unrecorded:
    """A live endpoint under a desired name that this state does not record: someone else's
    (``marker`` says whose, None when nimctl did not create it), or this state's own after
    ``state rm`` (its marker names this lineage, but the state explicitly no longer manages it)."""

    address: str
    name: str
    provider: str
    live: EndpointInfo
    marker: ownership.Marker | None

    def describe(self) -> str:
        return self.marker.describe() if self.marker else "not created by nimctl"


@dataclass
class Observed:
    """The result of a refresh. Pure data: planning from it reads nothing more."""

    lineage: str
    resources: dict[str, ObservedResource] = field(default_factory=dict)
    pending: list[ObservedPending] = field(default_factory=list)
    # address -> a live endpoint under a desired name that the state does not record
    unrecorded: dict[str, Unrecorded] = field(default_factory=dict)
    # address -> the marker of a live object that took a recorded name (its record's object is gone)
    taken: dict[str, ownership.Marker | None] = field(default_factory=dict)
    providers: tuple[str, ...] = ()  # providers that were read
    requests: dict[str, int] = field(default_factory=dict)  # "lepton.list_endpoints" -> calls made
    elapsed_s: float = 0.0

    def pending_for(self, entry_id: str) -> ObservedPending | None:
        return next((p for p in self.pending if p.entry.id == entry_id), None)

    def fingerprints(self) -> dict[str, str]:
        """address (or ``pending:<entry id>``) -> fingerprint of what the plan relied on."""
        prints = {a: r.fingerprint for a, r in self.resources.items() if r.status.was_read}
        prints.update({f"pending:{p.entry.id}": p.fingerprint for p in self.pending})
        return dict(sorted(prints.items()))

    def live_summary(self) -> dict[str, dict[str, Any]]:
        """address -> {state, platform_state, url} for every resource that was read live."""
        out: dict[str, dict[str, Any]] = {}
        for address, res in sorted(self.resources.items()):
            if not res.status.was_read:
                continue
            if res.live is None:
                out[address] = {"state": "gone", "platform_state": "not found", "url": None}
            else:
                out[address] = {
                    "state": res.live.state.value,
                    "platform_state": res.live.platform_state,
                    "url": getattr(res.live, "url", None),
                    "ready_replicas": getattr(res.live, "ready_replicas", None),
                    "created_at": res.live.created_at,
                }
        return out


# -- fingerprints -----------------------------------------------------------------------------


def endpoint_fingerprint(live_spec: dict[str, Any] | None, exists: bool) -> str:
    """Changes when the endpoint appears/disappears or a managed field changes — not when it
    merely moves between Starting and Ready."""
    return digest({"exists": exists, "spec": live_spec if exists else None})


def _job_outcome_class(state: JobState) -> str:
    if state == JobState.SUCCEEDED:
        return "succeeded"
    if state in (JobState.FAILED, JobState.STOPPED):
        return "ended"  # both mean "run it again"
    if state == JobState.GONE:
        return "gone"
    return "active"  # pending / running / unknown: apply waits on it


def job_fingerprint(info: JobInfo | None) -> str:
    if info is None:
        return digest({"exists": False})
    return digest({"exists": True, "id": info.id, "outcome": _job_outcome_class(info.state)})


# -- refresh ------------------------------------------------------------------------------------


def _job_needs_refresh(record: ResourceRecord) -> bool:
    return record.observed.get("state") not in ENDED_JOB_STATES


def _going(info: EndpointInfo) -> bool:
    """Gone, or being deleted (Lepton lists a deleted endpoint as "Deleting" for a while): either way
    it will not serve again and its name is about to be free."""
    return info.state == ResourceState.GONE or (
        info.state == ResourceState.STOPPED and info.platform_state.strip().lower() == "deleting"
    )


class _Listings:
    """Lists each (provider, kind) at most once, on first need."""

    def __init__(self, providers: ProviderSource, requests: dict[str, int]) -> None:
        self._providers = providers
        self._endpoints: dict[str, dict[str, EndpointInfo]] = {}
        self._jobs: dict[str, list[JobInfo]] = {}
        self._job_index: dict[str, JobIndex] = {}
        self.requests = requests

    def _provider(self, platform: str) -> Provider:
        try:
            if callable(self._providers) and not isinstance(self._providers, Mapping):
                return self._providers(platform)
            return self._providers[platform]
        except KeyError:
            raise NimctlError(
                f"the state holds resources on platform {platform!r}, but no provider for it is available",
                hint="check the state file's `provider` fields",
            ) from None

    def endpoints(self, platform: str) -> dict[str, EndpointInfo]:
        if platform not in self._endpoints:
            listed = self._call(platform, "list_endpoints", lambda p: p.list_endpoints())
            self._endpoints[platform] = {e.name: e for e in listed if not _going(e)}
        return self._endpoints[platform]

    def jobs(self, platform: str) -> list[JobInfo]:
        if platform not in self._jobs:
            self._jobs[platform] = self._call(platform, "list_jobs", lambda p: p.list_jobs())
        return self._jobs[platform]

    def job_index(self, platform: str) -> JobIndex:
        if platform not in self._job_index:
            self._job_index[platform] = JobIndex(self.jobs(platform))
        return self._job_index[platform]

    def _call(self, platform: str, what: str, call: Callable[[Provider], list[Any]]) -> list[Any]:
        provider = self._provider(platform)
        key = f"{platform}.{what}"
        self.requests[key] = self.requests.get(key, 0) + 1
        try:
            return list(call(provider))
        except ProviderError as err:
            kind = "endpoints" if what == "list_endpoints" else "jobs"
            hint: str | None
            if isinstance(err, Unauthorized):
                hint = err.hint or f"check the {platform} credentials (see `nimctl --help`)"
            elif isinstance(err, Transient):
                hint = (
                    f"{platform} did not answer after retries; try again later, or plan from the "
                    "state alone with --refresh=false"
                )
            else:
                hint = err.hint
            raise RefreshError(
                f"refresh failed: could not list {kind} on {platform}: {err.message}", hint=hint
            ) from err

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(sorted(set(self._endpoints) | set(self._jobs)))


class JobIndex:
    """A job listing indexed by id and name: ``find_job`` for every job of a large state would
    scan the listing once per job (9 million comparisons for 3,000 jobs)."""

    def __init__(self, jobs: list[JobInfo]) -> None:
        self._by_id: dict[str, JobInfo] = {}
        self._by_name: dict[str, list[JobInfo]] = {}
        for job in jobs:
            self._by_id.setdefault(job.id, job)
            if job.state != JobState.GONE:
                self._by_name.setdefault(job.name, []).append(job)

    def find(self, *, name: str, job_id: str | None) -> JobInfo | None:
        """Exactly ``find_job(jobs, name=name, job_id=job_id)``."""
        if job_id:
            match = self._by_id.get(job_id)
            if match is not None:
                return match if match.state != JobState.GONE else None
        named = self._by_name.get(name)
        if not named:
            return None
        return max(named, key=lambda j: (j.created_at or 0.0, j.id))


def find_job(jobs: list[JobInfo], *, name: str, job_id: str | None) -> JobInfo | None:
    """The job with ``job_id`` if known, else the newest live one called ``name``."""
    if job_id:
        match = next((j for j in jobs if j.id == job_id), None)
        if match is not None:
            return match if match.state != JobState.GONE else None
    named = [j for j in jobs if j.name == name and j.state != JobState.GONE]
    if not named:
        return None
    return max(named, key=lambda j: (j.created_at or 0.0, j.id))


def owner_of(live: EndpointInfo | JobInfo) -> ownership.Marker | None:
    """The ownership marker a live object carries (spec env, or job labels)."""
    labels = live.extra.get("labels") if isinstance(live, JobInfo) else None
    return ownership.read(live.spec, labels if isinstance(labels, dict) else None)


def refresh(
    state: State,
    providers: ProviderSource,
    *,
    stacks: set[str] | None = None,
    desired_endpoints: Iterable[DesiredEndpoint] = (),
) -> Observed:
    """Read the state's resources and pending entries from their platforms (listing calls only).

    ``providers`` maps a platform name to its provider, or is a factory called only for the
    platforms actually read. ``stacks`` limits the read to those stacks' records (a command
    scoped to its configs reads nothing of the others, nor needs their platform's credentials);
    pending entries are read when their provider is given. ``desired_endpoints`` are looked up
    by name too, in the same listings: a live one that the state does not record is reported in
    ``unrecorded`` (never taken over silently). Raises ``RefreshError`` naming the platform when
    a listing fails.
    """
    started = time.monotonic()
    salt = state.lineage
    observed = Observed(lineage=salt)
    listings = _Listings(providers, observed.requests)

    for address, record in sorted(state.resources.items()):
        if stacks is not None and record.stack not in stacks:
            continue
        if record.type == "endpoint":
            live_ep = listings.endpoints(record.provider).get(record.name)
            marker = owner_of(live_ep) if live_ep is not None else None
            if live_ep is not None and not record.is_shared and not ownership.owned_by(marker, salt):
                # Our endpoint is gone and another owner's object took its name.
                observed.taken[address] = marker
                live_ep = None
            observed.resources[address] = _observe_endpoint(record, live_ep, salt)
        elif not _job_needs_refresh(record):
            observed.resources[address] = ObservedResource(
                address, "job", record.provider, record.name, RefreshStatus.NOT_REFRESHED
            )
        else:
            live_job = listings.job_index(record.provider).find(name=record.name, job_id=record.platform_id)
            status = RefreshStatus.DELETED if live_job is None else RefreshStatus.UNCHANGED
            observed.resources[address] = ObservedResource(
                address,
                "job",
                record.provider,
                record.name,
                status,
                live=live_job,
                fingerprint=job_fingerprint(live_job),
            )

    for entry in state.pending:
        if isinstance(providers, Mapping) and entry.provider not in providers:
            continue  # another scope's platform: settled by a command that reads it
        observed.pending.append(_observe_pending(entry, listings, salt))

    adopted = {p.entry.address for p in observed.pending if p.resolution is PendingResolution.ADOPT}
    recorded = set(state.resources) | adopted
    for desired in desired_endpoints:
        if desired.address in recorded and desired.address not in observed.taken:
            continue
        live_ep = listings.endpoints(desired.platform).get(desired.name)
        if live_ep is not None:
            observed.unrecorded[desired.address] = Unrecorded(
                desired.address, desired.name, desired.platform, live_ep, owner_of(live_ep)
            )

    observed.providers = listings.platforms
    observed.elapsed_s = round(time.monotonic() - started, 4)
    return observed


def _without_masked(value: Any) -> Any:
    """The live spec minus values the platform masks (``***``): a hidden secret cannot be compared,
    and dropping it makes the comparison keep the applied value (see ``diff.project_live``)."""
    if isinstance(value, dict):
        return {
            k: _without_masked(v)
            for k, v in value.items()
            if not (isinstance(v, str) and len(v) >= 3 and set(v) == {"*"})
        }
    if isinstance(value, list):
        return [_without_masked(v) for v in value]
    return value


def redacted_live_spec(spec: dict[str, Any] | None, salt: str) -> dict[str, Any]:
    """The live spec as the planner compares it: redacted, masked values and the ownership
    marker (which differs on every create) left out."""
    return redact_spec(_without_masked(ownership.strip(spec)), salt)


def _observe_endpoint(record: ResourceRecord, live: EndpointInfo | None, salt: str) -> ObservedResource:
    if live is None:
        return ObservedResource(
            record.address,
            "endpoint",
            record.provider,
            record.name,
            RefreshStatus.DELETED,
            fingerprint=endpoint_fingerprint(None, False),
        )
    live_redacted = redacted_live_spec(live.spec, salt)
    managed = live_view(record.spec, live_redacted)
    # = drift_fields(record.spec, live_redacted), without projecting the live spec a second time
    drift = tuple(diff_specs(record.spec, managed))
    return ObservedResource(
        record.address,
        "endpoint",
        record.provider,
        record.name,
        RefreshStatus.DRIFTED if drift else RefreshStatus.UNCHANGED,
        live=live,
        drift=drift,
        live_spec=managed,
        fingerprint=endpoint_fingerprint(managed, True),
    )


def _observe_pending(entry: PendingEntry, listings: _Listings, salt: str) -> ObservedPending:
    if entry.type == "endpoint":
        live_ep = listings.endpoints(entry.provider).get(entry.name)
        managed = live_view(entry.spec, redacted_live_spec(live_ep.spec, salt)) if live_ep else None
        fingerprint = endpoint_fingerprint(managed, live_ep is not None)
        proven = live_ep is not None and ownership.proves(owner_of(live_ep), salt, entry.invocation_id)
        return ObservedPending(entry, resolve_pending(entry, live_ep, proven=proven), live_ep, managed, fingerprint)
    live_job = listings.job_index(entry.provider).find(name=entry.name, job_id=entry.platform_id)
    fingerprint = job_fingerprint(live_job)
    proven = live_job is not None and ownership.proves(owner_of(live_job), salt, entry.invocation_id)
    return ObservedPending(entry, resolve_pending(entry, live_job, proven=proven), live_job, None, fingerprint)
