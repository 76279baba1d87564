"""``nimctl gc``: find what nimctl made that no state records any more, and remove it.

Takes the current state, the providers to look at, and (optionally) a price table; gives a
``Survey`` of every endpoint and unfinished job that carries nimctl's ownership marker
(``nimctl.stack.ownership``) and that the current state does not record, each with a verdict:

- ``orphan``: its state is this one and no longer records it, or its state file is gone, or that
  file is another state now (another lineage), or it no longer records the object → gc removes it;
- ``owned``: another live state on this machine records it (or has a journaled step on it) → kept
  unless named explicitly;
- ``unverifiable``: its state lives on another host or cannot be read → kept unless named.

The platform is listed *before* any other state is read: every object's create was journaled in
its state before it happened, so an object seen live is always visible in the state that made it.

``collect`` removes the chosen objects — jobs first, then endpoints — each journaled in the current
state (an invocation of command ``gc``) before its delete, then re-lists until they are gone and
returns what is left. It reports through ``on_event(kind, found, text)``; it prints nothing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from nimctl.apply.journal import Journal
from nimctl.providers.base import JobState, NotFound, Provider, ProviderError, Unauthorized
from nimctl.stack import ownership
from nimctl.state.model import Invocation, InvocationStatus, Op, State


class Verdict(str, Enum):
    ORPHAN = "orphan"
    OWNED = "owned"
    UNVERIFIABLE = "unverifiable"

    @property
    def removed_by_default(self) -> bool:
        return self is Verdict.ORPHAN


@dataclass(frozen=True)
class Found:
    kind: str  # "endpoint" | "job"
    provider: str
    name: str
    id: str  # job id; an endpoint's name
    marker: ownership.Marker
    verdict: Verdict
    reason: str
    platform_state: str
    shape: str
    replicas: int
    age_s: float | None
    cost: dict[str, Any] = field(default_factory=dict)  # nimctl.plan.cost.cost_so_far

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}" + (f" ({self.id})" if self.kind == "job" and self.id != self.name else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "provider": self.provider,
            "name": self.name,
            "id": self.id,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "owner": self.marker.to_dict(),
            "platform_state": self.platform_state,
            "resource_shape": self.shape,
            "replicas": self.replicas,
            "age_s": self.age_s,
            "cost_so_far": self.cost,
        }


@dataclass
class Survey:
    found: list[Found] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # platforms not checked, finished jobs skipped

    def chosen(self, names: Iterable[str] = ()) -> list[Found]:
        """What gc removes: every orphan, plus whatever is named (name or job id)."""
        named = set(names)
        return [f for f in self.found if f.verdict.removed_by_default or f.name in named or f.id in named]

    def to_dict(self) -> dict[str, Any]:
        return {"found": [f.to_dict() for f in self.found], "notes": list(self.notes)}


# -- what the current state knows ---------------------------------------------------------------


@dataclass(frozen=True)
class _Known:
    endpoints: frozenset[tuple[str, str]]  # (provider, name)
    job_ids: frozenset[tuple[str, str]]
    job_names: frozenset[tuple[str, str]]


def _known(state: State) -> _Known:
    endpoints, ids, names = set(), set(), set()
    for record in state.resources.values():
        if record.type == "endpoint":
            endpoints.add((record.provider, record.name))
            lifetime = record.extra.get("lifetime") or {}
            if lifetime.get("job_name"):  # the max_lifetime job scheduled for it
                names.add((record.provider, str(lifetime["job_name"])))
        else:
            names.add((record.provider, record.name))
            if record.platform_id:
                ids.add((record.provider, record.platform_id))
    for entry in state.pending:  # a journaled step: the object may exist before it is recorded
        if entry.type == "endpoint":
            endpoints.add((entry.provider, entry.name))
        else:
            names.add((entry.provider, entry.name))
            if entry.platform_id:
                ids.add((entry.provider, entry.platform_id))
    return _Known(frozenset(endpoints), frozenset(ids), frozenset(names))


def _records(known: _Known, provider: str, kind: str, name: str, job_id: str) -> bool:
    if kind == "endpoint":
        return (provider, name) in known.endpoints
    return (provider, job_id) in known.job_ids or (provider, name) in known.job_names


# -- the survey --------------------------------------------------------------------------------


def _read_state(path: Path) -> State:
    from nimctl.state.store import StateStore

    return StateStore(path).read()  # a read takes no lock and writes nothing


class _OtherStates:
    """Verdicts from the states markers name (each read once)."""

    def __init__(self, reader: Callable[[Path], State]) -> None:
        self._reader = reader
        self._cache: dict[str, State | str | None] = {}

    def verdict(
        self, marker: ownership.Marker, provider: str, kind: str, name: str, job_id: str
    ) -> tuple[Verdict, str]:
        locator = marker.state
        if not locator.startswith("file:"):
            where = locator or "an unnamed state"
            return Verdict.UNVERIFIABLE, f"its state is {where}, which gc cannot read"
        if marker.host and marker.host != ownership.current_host():
            return Verdict.UNVERIFIABLE, f"its state {locator[5:]} is on host {marker.host}"
        path = Path(locator[5:])
        other = self._load(path)
        if other is None:
            return Verdict.ORPHAN, f"its state file {path} is gone"
        if isinstance(other, str):
            return Verdict.UNVERIFIABLE, f"its state file {path} cannot be read ({other})"
        if other.lineage != marker.lineage:
            return Verdict.ORPHAN, f"{path} is another state now (lineage {other.lineage[:8]})"
        if _records(_known(other), provider, kind, name, job_id):
            return Verdict.OWNED, f"recorded by the live state {path}"
        return Verdict.ORPHAN, f"its state {path} no longer records it"

    def _load(self, path: Path) -> State | str | None:
        key = str(path)
        if key not in self._cache:
            if not path.exists():
                self._cache[key] = None
            else:
                try:
                    self._cache[key] = self._reader(path)
                except Exception as err:  # a damaged or unreadable file: say so, decide nothing
                    self._cache[key] = getattr(err, "message", None) or type(err).__name__
        return self._cache[key]


def survey(
    state: State,
    providers: dict[str, Provider],
    *,
    prices: Any = None,
    older_than_s: float | None = None,
    at: float | None = None,
    read_state: Callable[[Path], State] = _read_state,
) -> Survey:
    """Every marked object on ``providers`` that ``state`` does not record, with its verdict."""
    from nimctl.plan.cost import cost_so_far

    now = time.time() if at is None else at
    known = _known(state)
    result = Survey()
    listed: list[tuple[str, str, Any]] = []
    for platform, provider in sorted(providers.items()):
        try:
            listed += [(platform, "endpoint", e) for e in provider.list_endpoints()]
            jobs = provider.list_jobs()
        except Unauthorized as err:
            result.notes.append(f"{platform}: not checked: {err.message}")
            continue
        finished = [j for j in jobs if j.state.terminal and ownership.read(j.spec, j.extra.get("labels"))]
        if finished:
            result.notes.append(
                f"{platform}: {len(finished)} finished job(s) of nimctl's are not listed (they cost nothing)"
            )
        listed += [(platform, "job", j) for j in jobs if not j.state.terminal and j.state != JobState.GONE]
    others = _OtherStates(read_state)  # read after the listings (see the module docstring)
    for platform, kind, info in listed:
        labels = info.extra.get("labels") if kind == "job" else None
        marker = ownership.read(info.spec, labels)
        name = info.name
        job_id = info.id if kind == "job" else name
        if marker is None or _records(known, platform, kind, name, job_id):
            continue
        if marker.lineage == state.lineage:
            verdict, reason = Verdict.ORPHAN, "this state no longer records it"
        else:
            verdict, reason = others.verdict(marker, platform, kind, name, job_id)
        created = info.created_at or marker.created_at or None
        age = max(0.0, now - created) if created else None
        if older_than_s is not None and (age is None or age < older_than_s):
            continue
        shape, replicas = _shape_and_replicas(kind, info)
        result.found.append(
            Found(
                kind=kind,
                provider=platform,
                name=name,
                id=job_id,
                marker=marker,
                verdict=verdict,
                reason=reason,
                platform_state=info.platform_state or info.state.value,
                shape=shape,
                replicas=replicas,
                age_s=None if age is None else round(age, 1),
                cost=cost_so_far(shape=shape, replicas=replicas, created_at=created, prices=prices, at=now),
            )
        )
    result.found.sort(key=lambda f: (f.verdict != Verdict.ORPHAN, f.kind != "endpoint", f.provider, f.name, f.id))
    return result


def _shape_and_replicas(kind: str, info: Any) -> tuple[str, int]:
    spec = info.spec or {}
    if kind == "endpoint":
        requirement = spec.get("resource_requirement") or {}
        ready = info.ready_replicas
        replicas = ready if isinstance(ready, int) else int(requirement.get("min_replicas") or 0)
        return str(requirement.get("resource_shape") or ""), replicas
    return str(spec.get("resource_shape") or ""), int(spec.get("parallelism") or 1)


# -- removing ----------------------------------------------------------------------------------


def collect(
    journal: Journal,
    providers: dict[str, Provider],
    chosen: list[Found],
    invocation_id: str,
    on_event: Callable[[str, Found, str], None],
    *,
    timeout: float = 600.0,
) -> list[Found]:
    """Remove ``chosen`` (jobs, then endpoints), verify they are gone; returns what is left."""
    journal.start_invocation(Invocation(id=invocation_id, command="gc"))
    failed: list[Found] = []
    for found in sorted(chosen, key=lambda f: f.kind != "job"):
        provider = providers[found.provider]
        address = (
            f"endpoint.{found.name}" if found.kind == "endpoint" else f"job.{found.marker.stack or 'gc'}.{found.id}"
        )
        entry = journal.intent(
            op=Op.DELETE,
            address=address,
            type=found.kind,
            provider=found.provider,
            name=found.name,
            invocation_id=invocation_id,
            platform_id=found.id,
        )
        on_event("deleting", found, "")
        try:
            with contextlib.suppress(NotFound):
                if found.kind == "job":
                    provider.delete_job(found.id)
                else:
                    provider.delete_endpoint(found.name)
        except ProviderError as err:
            on_event("failed", found, err.message)
            failed.append(found)
            journal.resolve(entry)
            continue
        journal.resolve(entry)
    left = _wait_gone(providers, [f for f in chosen if f not in failed], timeout)
    for found in chosen:
        if found not in left and found not in failed:
            on_event("gone", found, "")
    status = InvocationStatus.FAILED if left or failed else InvocationStatus.SUCCEEDED
    journal.finish_invocation(
        invocation_id,
        status,
        f"{len(left) + len(failed)} object(s) left" if status is InvocationStatus.FAILED else None,
    )
    return failed + left


def _wait_gone(providers: dict[str, Provider], waiting: list[Found], timeout: float) -> list[Found]:
    from nimctl.apply.waiting import Poller

    deadline = time.monotonic() + timeout
    poller = Poller(first=0.1, cap=3.0)
    while waiting:
        still: list[Found] = []
        for platform in sorted({f.provider for f in waiting}):
            provider = providers[platform]
            mine = [f for f in waiting if f.provider == platform]
            endpoints = (
                {e.name for e in provider.list_endpoints()} if any(f.kind == "endpoint" for f in mine) else set()
            )
            # A job the platform lists as Deleted or Archived is gone; Deleting is not yet.
            jobs = (
                {j.id for j in provider.list_jobs() if j.state != JobState.GONE}
                if any(f.kind == "job" for f in mine)
                else set()
            )
            still += [f for f in mine if (f.name in endpoints if f.kind == "endpoint" else f.id in jobs)]
        waiting = still
        if not waiting or time.monotonic() > deadline:
            break
        poller.sleep()
    return waiting


def untracked(state: State, providers: dict[str, Provider]) -> dict[str, Any] | None:
    """How many marked objects ``state`` does not record, for a one-line hint:
    ``{"count", "orphans", "platforms"}``, or None when there are none (or a platform cannot be
    listed now: the hint is a courtesy, never an error)."""
    try:
        found = survey(state, providers)
    except ProviderError:
        return None
    if not found.found:
        return None
    return {
        "count": len(found.found),
        "orphans": sum(1 for f in found.found if f.verdict.removed_by_default),
        "platforms": sorted({f.provider for f in found.found}),
    }
