"""The planner: desired stacks + state (+ what refresh observed) → a Plan of actions.

Decisions (each shows up in a change's ``reasons``):

Endpoints
- not in state, or deleted outside nimctl → ``create``;
- in state: the desired spec (redacted) is diffed against the applied spec — or, when refresh saw
  drift, against the live values of the managed fields. Every changed field inside the platform's
  ``UPDATABLE_ENDPOINT_FIELDS`` → ``update`` in place; any other changed field (or a platform
  change) → ``replace`` = ``["delete", "create"]``. The platform name is fixed by the address, so
  create-before-destroy is impossible: the old endpoint is deleted first.
- in state, gone from every config → ``delete``, after the deletes of its stack's jobs.

Jobs (run to completion; identity = address, the platform name is chosen at apply time)
- never run, the last run failed / was stopped / vanished, or its inputs hash changed → run
  (``["create"]``; ``["delete", "create"]`` when a previous run is still active and must be stopped
  first);
- completed with the same inputs hash → ``no-op``; pending/running with the same hash → ``no-op``
  (apply waits on it).
- An endpoint replacement does not by itself re-run completed jobs: the inputs hash already covers
  the endpoint's model-affecting fields (image, model name, ...), so a replacement that changes the
  model re-runs them and one that only moves the endpoint (node group, mounts, ...) does not. A
  job still *running* against an endpoint that is deleted or replaced is re-run, since the delete
  pulls its target away.
- A job run depends on its stack's endpoint (apply waits for it to be ready first).

``targets`` restricts the plan to the given addresses (or address prefixes such as
``job.<stack>``) plus everything they depend on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from nimctl.common.errors import NimctlError
from nimctl.common.secrets import redact_spec
from nimctl.plan.diff import FieldChange, diff_specs
from nimctl.plan.refresh import Observed, PendingResolution, RefreshStatus, Unrecorded, describe_pending
from nimctl.providers.base import EndpointInfo, JobInfo, JobState, ResourceState
from nimctl.stack import ownership
from nimctl.stack.resources import DesiredEndpoint, DesiredJob, Stack
from nimctl.stack.specs.markers import PENDING_URL
from nimctl.state.model import Op, PendingEntry, ResourceRecord, State


class Ownership(str, Enum):
    """Whose an endpoint is, when it is not this state's own (``ResourceChange.owner``). A str
    enum: plan JSON and plan files show its value."""

    FOREIGN = "foreign"  # a name someone else holds: apply refuses to create over it
    SHARED = "shared"  # used, never modified or deleted (--share-existing)

    def __str__(self) -> str:
        return self.value


class Action(str, Enum):
    """What apply does to one resource (Terraform's ``plans.Action``). A str enum: its value is the
    one word plans, events and JSON show; ``steps`` is the platform operations in order."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"  # the name is fixed by the address: the old object is deleted, then created
    DELETE = "delete"
    NOOP = "no-op"
    SHARE = "share"  # use a live endpoint that is not this state's, without owning it (--share-existing)

    def __str__(self) -> str:
        return self.value

    @property
    def steps(self) -> tuple[str, ...]:
        """The operations in order, as plan JSON lists them: ``("delete", "create")`` for a replace."""
        return ("delete", "create") if self is Action.REPLACE else (self.value,)

    @classmethod
    def from_steps(cls, steps: Iterable[str]) -> Action:
        steps = tuple(steps)
        if steps == ("delete", "create"):
            return cls.REPLACE
        if len(steps) != 1:
            raise ValueError(f"not a plan action: {list(steps)}")
        return cls(steps[0])

    @property
    def is_change(self) -> bool:
        return self is not Action.NOOP

    @property
    def is_replace(self) -> bool:
        return self is Action.REPLACE

    @property
    def creates(self) -> bool:
        """A new platform object (a create, or the second half of a replace)."""
        return self in (Action.CREATE, Action.REPLACE)

    @property
    def deletes(self) -> bool:
        """An object goes (a delete, or the first half of a replace)."""
        return self in (Action.DELETE, Action.REPLACE)

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "delete": "-", "replace": "-/+", "share": "<="}.get(self.value, " ")


# The stack's placeholder for the endpoint URL is this same text: the renderer shows any value equal
# to it bare, not as a quoted string, so a spec's pending URL reads like the plan's own unknowns.
KNOWN_AFTER_APPLY = PENDING_URL
ACTIVE_JOB_STATES = frozenset({JobState.PENDING.value, JobState.RUNNING.value, JobState.UNKNOWN.value})


def updatable_endpoint_fields(platform: str) -> frozenset[str]:
    """The platform's in-place-updatable endpoint fields (``nimctl.providers.capabilities``, which
    imports nothing: ``plan --refresh=false`` never imports a platform SDK)."""
    from nimctl.providers.capabilities import UPDATABLE_ENDPOINT_FIELDS_BY_PLATFORM

    return UPDATABLE_ENDPOINT_FIELDS_BY_PLATFORM.get(platform, frozenset())


# -- the plan's types ----------------------------------------------------------------------------


@dataclass
class ResourceChange:
    """What apply would do to one resource. ``before``/``after`` hold redacted specs only."""

    address: str
    type: str  # "endpoint" | "job"
    name: str | None  # platform name; None for a job run (chosen at apply: it holds the invocation id)
    stack: str
    provider: str
    action: Action
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reasons: list[str] = field(default_factory=list)
    changed_fields: list[FieldChange] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    # Set for an endpoint that is not this state's own: {"ownership": Ownership,
    # "marker": <ownership marker dict> | None, "description": "created by alice@ws-3, ..."}.
    # FOREIGN blocks apply (a create under a name someone else holds).
    owner: dict[str, Any] | None = None

    @property
    def blocked(self) -> bool:
        return bool(self.owner and self.owner.get("ownership") is Ownership.FOREIGN)

    @property
    def shared(self) -> bool:
        return bool(self.owner and self.owner.get("ownership") is Ownership.SHARED)

    @property
    def actions(self) -> list[str]:
        """The platform operations in order, as plan JSON and plan files hold them."""
        return list(self.action.steps)

    @property
    def is_change(self) -> bool:
        return self.action.is_change

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "type": self.type,
            "name": self.name,
            "stack": self.stack,
            "provider": self.provider,
            "actions": self.actions,
            "before": self.before,
            "after": self.after,
            "reasons": list(self.reasons),
            "changed_fields": [c.to_dict() for c in self.changed_fields],
            "depends_on": list(self.depends_on),
            **({"owner": self.owner} if self.owner else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResourceChange:
        return cls(
            address=data["address"],
            type=data["type"],
            name=data.get("name"),
            stack=data["stack"],
            provider=data["provider"],
            action=Action.from_steps(data["actions"]),
            before=data.get("before"),
            after=data.get("after"),
            reasons=list(data.get("reasons", ())),
            changed_fields=[FieldChange.from_dict(c) for c in data.get("changed_fields", ())],
            depends_on=list(data.get("depends_on", ())),
            owner={**data["owner"], "ownership": Ownership(data["owner"]["ownership"])} if data.get("owner") else None,
        )


@dataclass(frozen=True)
class DriftItem:
    """A resource changed outside nimctl, as refresh found it."""

    address: str
    type: str
    name: str
    status: RefreshStatus  # DRIFTED | DELETED
    fields: tuple[FieldChange, ...] = ()  # old = applied, new = live

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "type": self.type,
            "name": self.name,
            "status": self.status,
            "fields": [f.to_dict() for f in self.fields],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftItem:
        return cls(
            data["address"],
            data["type"],
            data["name"],
            RefreshStatus(data["status"]),
            tuple(FieldChange.from_dict(f) for f in data.get("fields", ())),
        )


@dataclass(frozen=True)
class PendingItem:
    """A journal entry an interrupted run left, and how it resolves."""

    entry_id: str
    address: str
    type: str
    op: Op
    name: str
    invocation_id: str
    resolution: PendingResolution
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "address": self.address,
            "type": self.type,
            "op": self.op,
            "name": self.name,
            "invocation_id": self.invocation_id,
            "resolution": self.resolution,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingItem:
        given = {k: data[k] for k in ("entry_id", "address", "type", "name", "invocation_id", "description")}
        return cls(**given, op=Op(data["op"]), resolution=PendingResolution(data["resolution"]))


@dataclass
class Plan:
    resource_changes: list[ResourceChange]
    drift: list[DriftItem]
    pending: list[PendingItem]
    refreshed: bool
    lineage: str
    serial: int
    targets: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Stacks in the state that the given configs do not name: left alone (``--prune`` removes them).
    untouched_stacks: list[str] = field(default_factory=list)
    prune: bool = False
    # address -> desired resource (may hold literal secrets: never serialised)
    desired: dict[str, DesiredEndpoint | DesiredJob] = field(default_factory=dict, repr=False, compare=False)
    # nimctl.plan.cost.CostReport, attached by the command that shows the plan (not saved in plan files)
    cost: Any = field(default=None, repr=False, compare=False)

    @property
    def changes(self) -> list[ResourceChange]:
        return self.resource_changes

    def change(self, address: str) -> ResourceChange | None:
        return next((c for c in self.resource_changes if c.address == address), None)

    @property
    def conflicts(self) -> list[ResourceChange]:
        """Creates under a name a live object that is not this state's holds: apply refuses them."""
        return [c for c in self.resource_changes if c.blocked]

    @property
    def summary(self) -> dict[str, Any]:
        counts = {"add": 0, "change": 0, "replace": 0, "destroy": 0, "run": 0, "no_op": 0, "share": 0}
        for c in self.resource_changes:
            if c.action is Action.NOOP:
                counts["no_op"] += 1
            elif c.action is Action.SHARE:
                counts["share"] += 1
            elif c.type == "job" and c.action.creates:
                counts["run"] += 1
            elif c.action is Action.CREATE:
                counts["add"] += 1
            elif c.action is Action.UPDATE:
                counts["change"] += 1
            elif c.action is Action.REPLACE:
                counts["replace"] += 1
            else:
                counts["destroy"] += 1
        return {**counts, "pending": len(self.pending), "has_changes": self.has_changes}

    @property
    def has_changes(self) -> bool:
        """Anything for apply to do: an action, or an interrupted run's entries to settle."""
        return any(c.is_change for c in self.resource_changes) or bool(self.pending)

    def to_dict(self) -> dict[str, Any]:
        """The complete plan as plain data (redacted fingerprints kept; see render.py for output)."""
        return {
            "refreshed": self.refreshed,
            "lineage": self.lineage,
            "serial": self.serial,
            "targets": list(self.targets),
            "warnings": list(self.warnings),
            "untouched_stacks": list(self.untouched_stacks),
            "prune": self.prune,
            "resource_changes": [c.to_dict() for c in self.resource_changes],
            "drift": [d.to_dict() for d in self.drift],
            "pending": [p.to_dict() for p in self.pending],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(
            resource_changes=[ResourceChange.from_dict(c) for c in data["resource_changes"]],
            drift=[DriftItem.from_dict(d) for d in data.get("drift", ())],
            pending=[PendingItem.from_dict(p) for p in data.get("pending", ())],
            refreshed=bool(data["refreshed"]),
            lineage=data["lineage"],
            serial=int(data["serial"]),
            targets=list(data.get("targets", ())),
            warnings=list(data.get("warnings", ())),
            untouched_stacks=list(data.get("untouched_stacks", ())),
            prune=bool(data.get("prune", False)),
        )


# -- what exists now -------------------------------------------------------------------------------


@dataclass
class _Current:
    """A resource as the plan sees it now: its applied record, and what refresh found."""

    record: ResourceRecord
    base_spec: dict[str, Any]  # what desired is diffed against (applied, or live when drifted)
    live: EndpointInfo | JobInfo | None = None
    gone: bool = False  # deleted outside nimctl, or an interrupted delete finished
    gone_reason: str = ""
    drift: tuple[FieldChange, ...] = ()
    adopted: bool = False  # from an interrupted create found live

    @property
    def job_state(self) -> str:
        if isinstance(self.live, JobInfo):
            return self.live.state.value
        return str(self.record.observed.get("state") or JobState.UNKNOWN.value)


def _current_view(
    state: State, observed: Observed | None, scope: set[str] | None = None
) -> tuple[dict[str, _Current], list[PendingItem]]:
    current: dict[str, _Current] = {}
    for address, record in state.resources.items():
        if scope is not None and record.stack not in scope:
            continue
        cur = _Current(record=record, base_spec=record.spec)
        seen = observed.resources.get(address) if observed else None
        if seen is not None and seen.status.was_read:
            cur.live = seen.live
            if seen.status is RefreshStatus.DELETED and observed is not None and address in observed.taken:
                taker = observed.taken[address]
                cur.gone = True
                cur.gone_reason = "deleted outside nimctl; its name is now held by an endpoint " + (
                    taker.describe() if taker else "not created by nimctl"
                )
            elif seen.status is RefreshStatus.DELETED:
                cur.gone, cur.gone_reason = True, "deleted outside nimctl"
            elif seen.status is RefreshStatus.DRIFTED and seen.live_spec is not None:
                cur.base_spec, cur.drift = seen.live_spec, seen.drift
        current[address] = cur

    pending: list[PendingItem] = []
    for entry in state.pending:
        if observed is not None and observed.pending_for(entry.id) is None and _read_elsewhere(entry, observed):
            continue  # another scope's platform was not read: its own command settles it
        seen_entry = observed.pending_for(entry.id) if observed else None
        resolution = seen_entry.resolution if seen_entry else PendingResolution.UNRESOLVED
        pending.append(
            PendingItem(
                entry.id,
                entry.address,
                entry.type,
                entry.op,
                entry.name,
                entry.invocation_id,
                resolution,
                describe_pending(entry, resolution),
            )
        )
        existing = current.get(entry.address)
        if resolution is PendingResolution.ADOPT and seen_entry is not None:
            if existing is None or existing.gone or existing.record.name != entry.name:
                current[entry.address] = _Current(
                    record=entry.as_record(),
                    base_spec=seen_entry.live_spec or dict(entry.spec),
                    live=seen_entry.live,
                    adopted=True,
                )
        elif (
            resolution is PendingResolution.ALREADY_DELETED
            and existing is not None
            and existing.record.name == entry.name
        ):
            existing.gone, existing.gone_reason = True, "an interrupted delete finished"
    return current, sorted(pending, key=lambda p: (p.address, p.entry_id))


def _read_elsewhere(entry: PendingEntry, observed: Observed) -> bool:
    return entry.provider not in observed.providers


# -- endpoints -----------------------------------------------------------------------------------


def _endpoint_after(desired: DesiredEndpoint, salt: str, url: str | None) -> dict[str, Any]:
    return {
        "name": desired.name,
        "provider": desired.platform,
        "spec": redact_spec(desired.spec, salt),
        "served_model_name": desired.served_model_name,
        "url": url,
    }


def _endpoint_before(cur: _Current) -> dict[str, Any]:
    record = cur.record
    live_state = (
        cur.live.platform_state if isinstance(cur.live, EndpointInfo) else record.observed.get("platform_state")
    )
    url = cur.live.url if isinstance(cur.live, EndpointInfo) else record.observed.get("url")
    ready = cur.live.ready_replicas if isinstance(cur.live, EndpointInfo) else record.observed.get("ready_replicas")
    return {
        "name": record.name,
        "provider": record.provider,
        "spec": record.spec,
        "invocation_id": record.invocation_id,
        "state": live_state,
        "url": url,
        "ready_replicas": ready if isinstance(ready, int) else None,
    }


def _owner(ownership_kind: Ownership, marker: Any, description: str) -> dict[str, Any]:
    return {
        "ownership": ownership_kind,
        "marker": marker.to_dict() if marker is not None else None,
        "description": description,
    }


def _plan_endpoint(
    desired: DesiredEndpoint,
    cur: _Current | None,
    salt: str,
    unrecorded: Unrecorded | None = None,
    share_existing: bool = False,
) -> ResourceChange:
    change = ResourceChange(
        address=desired.address,
        type="endpoint",
        name=desired.name,
        stack=desired.stack,
        provider=desired.platform,
        action=Action.NOOP,
    )
    if (cur is None or cur.gone) and unrecorded is not None:
        return _plan_unrecorded(change, desired, salt, unrecorded, share_existing)
    if cur is not None and not cur.gone and cur.record.is_shared:
        # Shared: this state uses it, never changes or replaces it.
        change.before = _endpoint_before(cur)
        owner = cur.record.extra.get("owner") or {}
        description = ownership.Marker.from_dict(owner).describe() if owner.get("lineage") else "not created by nimctl"
        change.owner = _owner(Ownership.SHARED, ownership.Marker.from_dict(owner) if owner else None, description)
        change.reasons.append(f"shared ({description}): this state uses it and never modifies or deletes it")
        differs = diff_specs(cur.base_spec, redact_spec(desired.spec, salt))
        if differs:
            change.reasons.append("its spec differs from this config (" + ", ".join(f.path for f in differs) + ")")
        change.after = _endpoint_after(desired, salt, change.before.get("url"))
        return change
    if cur is None or cur.gone:
        change.action = Action.CREATE
        change.after = _endpoint_after(desired, salt, None)
        change.reasons.append(f"{cur.gone_reason}: it will be created again" if cur else "not created yet")
        return change

    change.before = _endpoint_before(cur)
    if cur.adopted:
        change.reasons.append("an interrupted run created it: it is adopted, not created again")
    if cur.drift:
        change.reasons.append("changed outside nimctl: " + ", ".join(d.path for d in cur.drift))
    desired_spec = redact_spec(desired.spec, salt)
    if cur.record.provider != desired.platform:
        change.action = Action.REPLACE
        change.after = _endpoint_after(desired, salt, None)
        change.reasons.append(f"platform changes from {cur.record.provider} to {desired.platform}")
        return change

    fields = diff_specs(cur.base_spec, desired_spec, updatable=updatable_endpoint_fields(desired.platform))
    change.changed_fields = fields
    forcing = [f.path for f in fields if f.forces_replacement]
    if forcing:
        change.action = Action.REPLACE
        change.reasons.append(
            f"{', '.join(forcing)} cannot change in place; the name stays, so the old "
            "endpoint is deleted before the new one is created"
        )
    elif fields:
        change.action = Action.UPDATE
        change.reasons.append("updated in place: " + ", ".join(f.path for f in fields))
    if isinstance(cur.live, EndpointInfo) and cur.live.state == ResourceState.FAILED:
        # A failed endpoint (Lepton Error, a local server that exited) serves nothing: like a
        # tainted resource in Terraform it is replaced, not kept or patched.
        change.action = Action.REPLACE
        change.reasons.append(f"the platform reports it as {cur.live.platform_state or 'failed'}: it will be replaced")
    elif isinstance(cur.live, EndpointInfo) and cur.live.state == ResourceState.STOPPED:
        change.reasons.append(f"the platform reports it as {cur.live.platform_state or cur.live.state.value}")
    url = None if change.action is Action.REPLACE else change.before.get("url")
    change.after = _endpoint_after(desired, salt, url)
    return change


def _plan_unrecorded(
    change: ResourceChange, desired: DesiredEndpoint, salt: str, found: Unrecorded, share_existing: bool
) -> ResourceChange:
    """A live endpoint under the desired name that this state does not record: never taken over
    silently. With --share-existing it is used as shared; otherwise apply refuses."""
    description = found.describe()
    if found.marker is not None and found.marker.lineage == salt:
        description += " (this state's, but no longer recorded in it: `nimctl state rm` left it unmanaged)"
    if share_existing:
        change.action = Action.SHARE
        change.owner = _owner(Ownership.SHARED, found.marker, description)
        change.reasons.append(
            f"endpoint {desired.name} exists and is not this state's ({description}): "
            "it is shared (--share-existing); this state never modifies or deletes it"
        )
        change.after = _endpoint_after(desired, salt, found.live.url)
        return change
    change.action = Action.CREATE
    change.owner = _owner(Ownership.FOREIGN, found.marker, description)
    change.after = _endpoint_after(desired, salt, None)
    change.reasons.append(
        f"endpoint {desired.name} already exists and is not this state's ({description}): apply refuses "
        "to take it over; pass --share-existing to use it without owning it, or choose another endpoint_name"
    )
    return change


# -- jobs ----------------------------------------------------------------------------------------

PREVIEW_INVOCATION_ID = "f0f0f0f0f0f0f0f0"  # stands in for the invocation id when previewing a job spec
PREVIEW_ENDPOINT_URL = "https://endpoint.url.known.after.apply.invalid"


def _replace_strings(value: Any, replacements: list[tuple[str, str]]) -> Any:
    if isinstance(value, dict):
        return {k: _replace_strings(v, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_strings(v, replacements) for v in value]
    if isinstance(value, str):
        for old, new in replacements:
            if old:
                value = value.replace(old, new)
    return value


def job_preview_spec(job: DesiredJob, endpoint_url: str | None, salt: str) -> dict[str, Any]:
    """The spec apply would submit for ``job``, redacted; values that depend on the invocation
    (job name, ids, paths) or on an endpoint not yet created read ``(known after apply)``."""
    try:
        from nimctl.stack.builder import render_job_spec
    except ImportError:  # spec building not available: show the template
        return redact_spec(job.spec_template, salt)
    url = endpoint_url or job.target_url or PREVIEW_ENDPOINT_URL
    name, spec = render_job_spec(job, invocation_id=PREVIEW_INVOCATION_ID, endpoint_url=url)
    replacements = [
        (name, KNOWN_AFTER_APPLY),
        (PREVIEW_ENDPOINT_URL, KNOWN_AFTER_APPLY),
        (PREVIEW_INVOCATION_ID, KNOWN_AFTER_APPLY),
        (PREVIEW_INVOCATION_ID[:6], KNOWN_AFTER_APPLY),
    ]
    return _replace_strings(redact_spec(spec, salt), replacements)


def _job_before(cur: _Current) -> dict[str, Any]:
    record = cur.record
    return {
        "name": record.name,
        "platform_id": record.platform_id,
        "inputs_hash": record.inputs_hash,
        "invocation_id": record.invocation_id,
        "state": cur.job_state,
        "spec": record.spec,
    }


def _job_after(
    job: DesiredJob, endpoint_address: str | None, *, name: str | None, spec: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": name,
        "name_known_after_apply": name is None,
        "task": job.task,
        "resolved_task": job.resolved_task,
        "inputs_hash": job.inputs_hash,
        "model_id": job.model_id,
        "endpoint": endpoint_address,
        "spec": spec,
        "time_limit": {"seconds": job.time_limit_s, "source": job.time_limit_source},
        "api_key": job.api_key_wiring,
        "results_storage": job.results_storage,
        "notes": list(job.notes),
    }


def _job_decision(job: DesiredJob, cur: _Current, endpoint_change: ResourceChange | None) -> tuple[Action, str]:
    """(actions, reason) for a job that has run before."""
    state = JobState.GONE.value if cur.gone else cur.job_state
    active = state in ACTIVE_JOB_STATES
    endpoint_goes = endpoint_change is not None and endpoint_change.action.deletes
    if cur.record.inputs_hash != job.inputs_hash:
        reason = "inputs changed since the last run (task config, container/command or the endpoint's model)"
    elif state == JobState.SUCCEEDED.value:
        return Action.NOOP, "completed with the same inputs"
    elif state == JobState.FAILED.value:
        reason = "the last run failed"
    elif state == JobState.STOPPED.value:
        reason = "the last run was stopped"
    elif state == JobState.GONE.value:
        reason = f"the last run is no longer on the platform ({cur.gone_reason or 'deleted'})"
    elif endpoint_goes:
        reason = "its endpoint is being replaced: the run in progress would lose its target"
    else:
        return Action.NOOP, f"the last run is still {state}: apply waits for it to finish"
    if active:
        return Action.REPLACE, reason + "; the run in progress is stopped first"
    return Action.CREATE, reason


def _plan_job(
    job: DesiredJob, cur: _Current | None, endpoint_change: ResourceChange | None, salt: str, *, forced: bool = False
) -> ResourceChange:
    change = ResourceChange(
        address=job.address, type="job", name=None, stack=job.stack, provider=job.platform, action=Action.NOOP
    )
    endpoint_address = f"endpoint.{job.endpoint}" if job.endpoint else None
    if endpoint_address and endpoint_change is not None:
        change.depends_on = [endpoint_address]
    if cur is None:
        change.action, reason = Action.CREATE, "not run yet"
    else:
        change.before = _job_before(cur)
        if cur.adopted:
            change.reasons.append("an interrupted run submitted it: it is adopted, not submitted again")
        change.action, reason = _job_decision(job, cur, endpoint_change)
        if forced and change.action is Action.NOOP:
            active = (JobState.GONE.value if cur.gone else cur.job_state) in ACTIVE_JOB_STATES
            change.action = Action.REPLACE if active else Action.CREATE
            reason = "a new run was asked for with --replace" + (
                "; the run in progress is stopped first" if active else ""
            )
    change.reasons.append(reason)

    if change.action is Action.NOOP and cur is not None:
        # the run that stays: after = before (its name is known, its spec is what was sent)
        change.name = cur.record.name
        change.after = _job_after(job, endpoint_address, name=cur.record.name, spec=cur.record.spec)
    else:
        url = (endpoint_change.after or {}).get("url") if endpoint_change else None
        change.after = _job_after(job, endpoint_address, name=None, spec=job_preview_spec(job, url, salt))
    return change


# -- deletes -------------------------------------------------------------------------------------


def _plan_delete(cur: _Current, desired_stacks: set[str]) -> ResourceChange:
    record = cur.record
    before = _endpoint_before(cur) if record.type == "endpoint" else _job_before(cur)
    change = ResourceChange(
        address=record.address,
        type=record.type,
        name=record.name,
        stack=record.stack,
        provider=record.provider,
        action=Action.DELETE,
        before=before,
    )
    where = (
        f"no longer in the config of stack {record.stack}"
        if record.stack in desired_stacks
        else f"stack {record.stack} is in none of the given configs (--prune)"
    )
    change.reasons.append(where)
    if record.is_shared:
        change.reasons.append("shared: it is only forgotten; the endpoint is its owner's and stays")
    elif cur.gone:
        change.reasons.append(f"already {cur.gone_reason}: it is only forgotten")
    elif record.type == "job" and cur.job_state in ACTIVE_JOB_STATES:
        change.reasons.append("it is still running: it is stopped, then deleted")
    return change


# -- the plan ------------------------------------------------------------------------------------


def _desired_index(stacks: Iterable[Stack]) -> dict[str, DesiredEndpoint | DesiredJob]:
    index: dict[str, DesiredEndpoint | DesiredJob] = {}
    where: dict[str, str] = {}
    for stack in stacks:
        items: list[DesiredEndpoint | DesiredJob] = [*([stack.endpoint] if stack.endpoint else []), *stack.jobs]
        for item in items:
            if item.address in index:
                raise NimctlError(
                    f"{item.address} is defined twice: in {where[item.address]} and in "
                    f"{stack.source_file or stack.name}",
                    hint="give each config its own stack name / endpoint_name",
                )
            index[item.address] = item
            where[item.address] = stack.source_file or stack.name
    return index


def _select_targets(changes: dict[str, ResourceChange], targets: Iterable[str]) -> set[str]:
    wanted = [t.strip() for t in targets if t and t.strip()]
    selected: set[str] = set()
    for target in wanted:
        matches = {a for a in changes if a == target or a.startswith(target + ".")}
        if not matches:
            known = ", ".join(sorted(changes)) or "none"
            raise NimctlError(
                f"--target {target}: no such resource in the config or the state",
                hint=f"addresses are endpoint.<name> and job.<stack>.<task>; known: {known}",
            )
        selected |= matches
    frontier = list(selected)
    while frontier:
        for dep in changes[frontier.pop()].depends_on:
            if dep in changes and dep not in selected:
                selected.add(dep)
                frontier.append(dep)
    return selected


def _replace_set(replace: Iterable[str], desired: dict[str, DesiredEndpoint | DesiredJob]) -> set[str]:
    wanted = {r.strip() for r in replace if r and r.strip()}
    unknown = sorted(wanted - set(desired))
    if unknown:
        known = ", ".join(sorted(desired)) or "none"
        raise NimctlError(
            f"--replace {unknown[0]}: no such resource in the config",
            hint=f"addresses are endpoint.<name> and job.<stack>.<task>; in the config: {known}",
        )
    return wanted


def _force_replace(change: ResourceChange, item: DesiredEndpoint, salt: str) -> None:
    """``--replace`` of an endpoint that exists: deleted and created again, whatever else changed."""
    if change.action not in (Action.NOOP, Action.UPDATE):
        return  # created or replaced anyway
    change.action = Action.REPLACE
    change.reasons.append("replacement asked for with --replace")
    change.after = _endpoint_after(item, salt, None)


def scope_of(stacks: Iterable[Stack], *, prune: bool) -> set[str] | None:
    """The stacks a command acts on: those its configs name, or every stack (None) with --prune."""
    return None if prune else {s.name for s in stacks}


def make_plan(
    stacks: list[Stack],
    state: State,
    observed: Observed | None,
    *,
    targets: Iterable[str] = (),
    salt: str,
    replace: Iterable[str] = (),
    prune: bool = False,
    share_existing: bool = False,
) -> Plan:
    """Plan what apply would do. ``observed`` is a refresh's result, or None for ``--refresh=false``
    (the state is then taken as the truth). ``replace``: addresses to recreate (an endpoint) or
    run again (a job) although nothing changed (``apply --replace``). Reads nothing, writes
    nothing; deterministic.

    Scoped to the given configs: stacks of the state that they do not name are left alone (listed
    in ``untouched_stacks``) unless ``prune`` (the configs are then authoritative and those stacks
    are deleted). A live endpoint under a desired name that the state does not record is a
    conflict, or shared with ``share_existing``."""
    desired = _desired_index(stacks)
    scope = scope_of(stacks, prune=prune)
    current, pending = _current_view(state, observed, scope)
    untouched = [] if scope is None else sorted({r.stack for r in state.resources.values()} - scope)
    unrecorded = observed.unrecorded if observed is not None else {}
    changes: dict[str, ResourceChange] = {}
    forced = _replace_set(replace, desired)

    for address, item in desired.items():
        if isinstance(item, DesiredEndpoint):
            changes[address] = _plan_endpoint(item, current.get(address), salt, unrecorded.get(address), share_existing)
            if address in forced and not changes[address].shared and not changes[address].blocked:
                _force_replace(changes[address], item, salt)
    for address, item in desired.items():
        if isinstance(item, DesiredJob):
            endpoint_change = changes.get(f"endpoint.{item.endpoint}") if item.endpoint else None
            changes[address] = _plan_job(item, current.get(address), endpoint_change, salt, forced=address in forced)
    _wake_scaled_to_zero(changes, current, desired, salt)

    desired_stacks = {s.name for s in stacks}
    for address, cur in current.items():
        if address not in desired:
            changes[address] = _plan_delete(cur, desired_stacks)
    _order_deletes(changes)

    if targets:
        keep = _select_targets(changes, targets)
        changes = {a: c for a, c in changes.items() if a in keep}

    drift = _drift_items(observed)
    warnings = sorted({w for s in stacks for w in s.warnings})
    plan = Plan(
        resource_changes=[changes[a] for a in sorted(changes)],
        drift=drift,
        pending=pending,
        refreshed=observed is not None,
        lineage=state.lineage,
        serial=state.serial,
        targets=sorted(set(targets)),
        warnings=warnings,
        untouched_stacks=untouched,
        prune=prune,
    )
    plan.desired = {a: desired[a] for a in sorted(changes) if a in desired}
    return plan


def _wake_scaled_to_zero(
    changes: dict[str, ResourceChange],
    current: dict[str, _Current],
    desired: dict[str, DesiredEndpoint | DesiredJob],
    salt: str,
) -> None:
    """A kept endpoint the platform has scaled to zero (its scale-down timeout passed without
    traffic) cannot serve the jobs this plan runs on it: Lepton does not scale up from zero, so
    they would wait out the readiness timeout. It is created again instead."""
    for address, change in changes.items():
        cur = current.get(address)
        item = desired.get(address)
        if change.type != "endpoint" or change.action not in (Action.NOOP, Action.UPDATE) or cur is None:
            continue
        if not (isinstance(cur.live, EndpointInfo) and cur.live.state == ResourceState.STOPPED):
            continue
        if not isinstance(item, DesiredEndpoint):
            continue
        runs = [c.address for c in changes.values() if c.type == "job" and c.is_change and address in c.depends_on]
        if not runs:
            continue
        change.action = Action.REPLACE
        change.reasons.append(
            f"it has no replica running (scaled to zero) and Lepton does not scale up from zero: "
            f"{', '.join(sorted(runs))} need{'s' if len(runs) == 1 else ''} it, so it is created again"
        )
        change.after = _endpoint_after(item, salt, None)


def _order_deletes(changes: dict[str, ResourceChange]) -> None:
    """An endpoint's delete (or the delete half of its replacement) waits for the deletes of its
    stack's jobs. Job re-runs are not listed: they depend on the endpoint, not the other way."""
    for change in changes.values():
        if change.type != "endpoint" or not change.action.deletes:
            continue
        deps = sorted(
            c.address
            for c in changes.values()
            if c.type == "job" and c.stack == change.stack and c.action is Action.DELETE
        )
        change.depends_on = sorted(set(change.depends_on) | set(deps))


def _drift_items(observed: Observed | None) -> list[DriftItem]:
    if observed is None:
        return []
    items = []
    for address, seen in sorted(observed.resources.items()):
        if seen.status is RefreshStatus.DRIFTED:
            items.append(DriftItem(address, seen.type, seen.name, seen.status, seen.drift))
        elif seen.status is RefreshStatus.DELETED:
            items.append(DriftItem(address, seen.type, seen.name, seen.status))
    return items
