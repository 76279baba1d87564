"""Finishing what an interrupted run left in the journal.

A pending entry means "this call may or may not have happened". Each is settled against the
live platform, found by the platform name the entry recorded before the call, using one listing
per provider and kind:

- create / submit found live with this invocation's ownership marker → adopted into state;
  not found → the call never took effect, the entry is dropped.
- delete / stop → issued again (not found counts as done), and the resource is forgotten once gone.
- update → dropped; the resource keeps its previous applied spec, so the next plan shows the
  update again if the live object does not have it (an update is idempotent).

Which of these applies is ``nimctl.plan.refresh.resolve_pending``'s decision, the one the plan shows.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from enum import Enum

from nimctl.apply.journal import Journal
from nimctl.plan.refresh import PendingResolution, owner_of, resolve_pending
from nimctl.providers.base import (
    EndpointInfo,
    JobInfo,
    JobState,
    NotFound,
    Provider,
    ResourceState,
)
from nimctl.stack.ownership import proves
from nimctl.state.model import InvocationStatus, PendingEntry, State, now
from nimctl.state.records import adopt_pending, forget


class SettleOutcome(str, Enum):
    """What settling one pending entry did."""

    ADOPTED = "adopted"  # the call had taken effect: the object is recorded as ours
    NOT_CREATED = "not created"  # the call never took effect
    DELETED = "deleted"  # a delete was issued again and the resource forgotten
    STOPPED = "stopped"  # a stop was issued again
    DROPPED = "dropped"  # nothing to finish (an update: the next plan shows it again if needed)


@dataclass(frozen=True)
class Settled:
    entry: PendingEntry
    outcome: SettleOutcome

    def describe(self) -> str:
        return f"{self.entry.address} ({self.entry.name}): interrupted {self.entry.op} → {self.outcome.value}"


def settle_pending(journal: Journal, providers: dict[str, Provider]) -> list[Settled]:
    state = journal.state
    if not state.pending:
        return []
    live_endpoints: dict[str, dict[str, EndpointInfo]] = {}
    live_jobs: dict[str, dict[str, list[JobInfo]]] = {}
    settled: list[Settled] = []
    for entry in list(state.pending):
        provider = providers[entry.provider]
        if entry.type == "endpoint" and entry.provider not in live_endpoints:
            live_endpoints[entry.provider] = {e.name: e for e in provider.list_endpoints()}
        if entry.type == "job" and entry.provider not in live_jobs:
            by_name: dict[str, list[JobInfo]] = {}
            for job in provider.list_jobs():
                by_name.setdefault(job.name, []).append(job)
            live_jobs[entry.provider] = by_name
        outcome = _settle_one(
            journal, provider, entry, live_endpoints.get(entry.provider, {}), live_jobs.get(entry.provider, {})
        )
        settled.append(Settled(entry, outcome))
    return settled


def close_abandoned_invocations(journal: Journal) -> list[str]:
    """Invocations still marked running, seen by a process that holds the state lock: an apply
    holds it from start to finish, so their nimctl process ended without finishing (kill -9, a
    crash, a lost machine). They are marked interrupted; what they left is settled from the journal."""
    stale = sorted(i for i, inv in journal.state.invocations.items() if not inv.status.finished)

    def change(state: State) -> None:
        for inv_id in stale:
            inv = state.invocations[inv_id]
            inv.status = InvocationStatus.INTERRUPTED
            inv.finished_at = inv.finished_at or now()
            inv.error = inv.error or "its nimctl process ended before finishing (killed or crashed)"

    if stale:
        journal.mutate(change, touches=())
    return stale


def _settle_one(
    journal: Journal,
    provider: Provider,
    entry: PendingEntry,
    endpoints: dict[str, EndpointInfo],
    jobs: dict[str, list[JobInfo]],
) -> SettleOutcome:
    live, proven = _find_live(entry, endpoints, jobs, journal.state.lineage)
    resolution = resolve_pending(entry, live, proven=proven)
    if resolution is PendingResolution.ADOPT and live is not None:
        adopted = live
        journal.resolve(entry, lambda s: _adopt(s, entry, adopted))
        return SettleOutcome.ADOPTED
    if resolution in (PendingResolution.ADOPT, PendingResolution.NOT_CREATED):
        journal.resolve(entry)
        return SettleOutcome.NOT_CREATED
    if resolution in (PendingResolution.DELETE_AGAIN, PendingResolution.ALREADY_DELETED):
        _delete_again(provider, entry, endpoints, jobs)  # issued again either way: not found counts as done
        journal.resolve(entry, lambda s: _forget(s, entry))
        return SettleOutcome.DELETED
    if resolution in (PendingResolution.STOP_AGAIN, PendingResolution.ALREADY_STOPPED):
        if entry.platform_id:
            with contextlib.suppress(NotFound):
                provider.stop_job(entry.platform_id)
        journal.resolve(entry)
        return SettleOutcome.STOPPED
    journal.resolve(entry)
    return SettleOutcome.DROPPED


def _find_live(
    entry: PendingEntry, endpoints: dict[str, EndpointInfo], jobs: dict[str, list[JobInfo]], lineage: str
) -> tuple[EndpointInfo | JobInfo | None, bool]:
    """The live object under the entry's name, and whether it carries this invocation's marker (an
    object of that name made by anyone else — another state, a teammate, by hand — is never
    recorded as this run's creation). Of several jobs of that name, the last listed one of ours."""
    if entry.type == "endpoint":
        live = endpoints.get(entry.name)
        if live is None or live.state == ResourceState.GONE:
            return None, False
        return live, proves(owner_of(live), lineage, entry.invocation_id)
    named = [j for j in jobs.get(entry.name, []) if j.state != JobState.GONE]
    ours = [j for j in named if proves(owner_of(j), lineage, entry.invocation_id)]
    if ours:
        return ours[-1], True
    return (named[-1] if named else None), False


def _delete_again(
    provider: Provider, entry: PendingEntry, endpoints: dict[str, EndpointInfo], jobs: dict[str, list[JobInfo]]
) -> None:
    try:
        if entry.type == "endpoint":
            if entry.name in endpoints:
                provider.delete_endpoint(entry.name)
        else:
            ids = {j.id for j in jobs.get(entry.name, [])} | ({entry.platform_id} if entry.platform_id else set())
            for job_id in ids:
                with contextlib.suppress(NotFound):
                    provider.delete_job(job_id)
    except NotFound:
        pass


def _forget(state: State, entry: PendingEntry) -> None:
    forget(state, entry.address, name=entry.name)


def _adopt(state: State, entry: PendingEntry, live: EndpointInfo | JobInfo) -> None:
    adopt_pending(state, entry, live)
    inv = state.invocations.get(entry.invocation_id)
    if inv is not None and entry.address not in inv.created:
        inv.created.append(entry.address)
