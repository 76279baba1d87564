"""``nimctl destroy``: remove what an invocation, a config, or everything left behind.

What to remove is the union of the state's records, the journal's pending entries (settled
first, so an object created by a killed run is found by the name recorded before its creation)
and a live lookup by those names. Jobs go first, then endpoints; "not found" counts as done, and
an object is forgotten only after a re-read shows it gone. Running it twice is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nimctl import __version__
from nimctl.apply.events import (
    Approve,
    DestroyComplete,
    DestroyPlanned,
    Events,
    Outcome,
    RunStart,
    StateRead,
    WarningMessage,
)
from nimctl.apply.gc import untracked
from nimctl.apply.journal import Journal
from nimctl.apply.recovery import close_abandoned_invocations, settle_pending
from nimctl.apply.removal import destroy_addresses
from nimctl.apply.workspace import Workspace
from nimctl.common.errors import NimctlError
from nimctl.providers.base import EndpointInfo, JobInfo, JobState, Provider
from nimctl.state.model import InvocationStatus, State


@dataclass
class DestroyOptions:
    invocation: str | None = None
    all: bool = False
    force: bool = False


def resolve_invocation(state: State, prefix: str) -> str:
    """A full invocation id from a unique prefix."""
    prefix = prefix.strip().lower()
    matches = sorted(i for i in state.invocations if i.startswith(prefix))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(sorted(state.invocations)[-5:]) or "none recorded"
        raise NimctlError(
            f"no invocation {prefix!r} in the state", hint=f"known invocations: {known} (`nimctl status` lists them)"
        )
    raise NimctlError(
        f"invocation prefix {prefix!r} is ambiguous: {', '.join(matches)}", hint="give more characters of the id"
    )


def run_destroy(
    ws: Workspace,
    options: DestroyOptions,
    events: Events,
    approve: Approve,
    *,
    stack_names: set[str] | None = None,
) -> int:
    """Remove what ``options`` selects (an invocation; ``stack_names``, the stacks of the configs
    given; or everything). ``approve`` is asked once the destroy plan is shown."""
    with ws.store.lock("destroy", timeout=ws.lock_timeout):
        state = ws.store.read()
        ws.store.check_writable()  # before the first side effect
        journal = Journal(ws.store, state)
        platforms = {r.provider for r in state.resources.values()} | {p.provider for p in state.pending}
        providers = ws.providers_for(platforms)
        try:
            invocation_id = resolve_invocation(state, options.invocation) if options.invocation else None
        except NimctlError as err:  # say which state was searched: the id may be in another one
            err.message = f"{err.message} {ws.store.locator}"
            raise
        events.emit(RunStart("destroy", invocation_id, __version__))
        events.emit(StateRead(ws.store.locator, ws.store.exists(), state.lineage, state.serial))
        for settled in settle_pending(journal, providers):
            events.emit(WarningMessage(f"settled an interrupted run's step: {settled.describe()}"))
        for inv_id in close_abandoned_invocations(journal):
            events.emit(
                WarningMessage(f"invocation {inv_id} was interrupted: its nimctl process ended before finishing")
            )
        addresses = _select(state, invocation_id, stack_names)
        if not addresses:
            if invocation_id:
                _mark_destroyed(journal, invocation_id)
            # This state records nothing (more): say whether the platforms hold nimctl objects anyway.
            unknown = (
                untracked(state, ws.providers_for({"lepton", "local"})) if options.all or not state.resources else None
            )
            return _complete(events, Outcome.NOTHING_TO_DESTROY, invocation_id, untracked=unknown)
        live = _live_view(state, addresses, providers)
        events.emit(DestroyPlanned([_planned(state, a, live[a]) for a in addresses]))
        shared = _shared_endpoints(state, addresses, invocation_id)
        if shared and not options.force:
            for address, users in shared.items():
                events.emit(WarningMessage(f"{address} is still used by invocation(s) {', '.join(users)}"))
            raise NimctlError(
                "refusing to remove an endpoint that another invocation still uses",
                hint="wait for those jobs, or pass --force",
            )
        others = foreign_users(state, addresses, providers)
        if others and not options.force:
            for address, users in others.items():
                events.emit(WarningMessage(f"{address} is in use by another state: " + "; ".join(users)))
            raise NimctlError(
                "refusing to remove an endpoint on which another state's jobs are running. Nothing was removed",
                hint="wait until those jobs finish (their owners see them in `nimctl status`), or pass --force",
            )
        if not approve():
            return _complete(events, Outcome.CANCELLED, invocation_id)
        removed = destroy_addresses(journal, providers, addresses, invocation_id or "destroy", events=events)
        if invocation_id:
            _mark_destroyed(journal, invocation_id)
        return _complete(events, Outcome.SUCCEEDED, invocation_id, removed)


def _complete(
    events: Events,
    outcome: Outcome,
    invocation_id: str | None,
    removed: list[str] | None = None,
    *,
    untracked: dict[str, Any] | None = None,
) -> int:
    events.emit(DestroyComplete(outcome, outcome.exit_code, invocation_id, removed or [], untracked))
    return outcome.exit_code


def _planned(state: State, address: str, live: str) -> dict[str, str]:
    record = state.resources[address]
    return {"address": address, "type": record.type, "name": record.name, "provider": record.provider, "live": live}


def _select(state: State, invocation_id: str | None, stack_names: set[str] | None) -> list[str]:
    if invocation_id:
        # Each record names the invocation that created what is live now; an address this invocation
        # once created but a later one re-ran belongs to the later one.
        chosen = {a for a, r in state.resources.items() if r.invocation_id == invocation_id}
    elif stack_names is not None:
        chosen = {a for a, r in state.resources.items() if r.stack in stack_names}
    else:
        chosen = set(state.resources)
    return sorted(chosen, key=lambda a: (not a.startswith("job."), a))


def _live_view(state: State, addresses: list[str], providers: dict[str, Provider]) -> dict[str, str]:
    """The live state of each address, from one listing per provider and kind."""
    view: dict[str, str] = {}
    endpoints: dict[str, dict[str, EndpointInfo]] = {}
    jobs: dict[str, dict[str, JobInfo]] = {}
    for address in addresses:
        record = state.resources[address]
        provider = providers[record.provider]
        if record.type == "endpoint":
            if record.provider not in endpoints:
                endpoints[record.provider] = {e.name: e for e in provider.list_endpoints()}
            info = endpoints[record.provider].get(record.name)
            view[address] = info.platform_state if info else "not found"
        else:
            if record.provider not in jobs:
                jobs[record.provider] = {j.id: j for j in provider.list_jobs()}
            job = jobs[record.provider].get(record.platform_id or "")
            view[address] = job.platform_state if job else "not found"
    return view


def _shared_endpoints(state: State, addresses: list[str], invocation_id: str | None) -> dict[str, list[str]]:
    """Endpoints being removed whose stack has unfinished jobs of *other* invocations."""
    removing = set(addresses)
    shared: dict[str, list[str]] = {}
    for address in addresses:
        record = state.resources[address]
        if record.type != "endpoint":
            continue
        users = sorted(
            {
                r.invocation_id or "?"
                for a, r in state.resources.items()
                if r.type == "job"
                and r.stack == record.stack
                and a not in removing
                and not JobState(r.observed.get("state", "unknown")).terminal
                and r.invocation_id != invocation_id
            }
        )
        if users:
            shared[address] = users
    return shared


def foreign_users(state: State, addresses: list[str], providers: dict[str, Provider]) -> dict[str, list[str]]:
    """Endpoints among ``addresses`` (owned by this state) on which jobs of *another* state are
    still active, found by the ownership marker those jobs carry: address -> who, in words."""
    endpoints = {
        a: state.resources[a]
        for a in addresses
        if a in state.resources and state.resources[a].type == "endpoint" and not state.resources[a].is_shared
    }
    if not endpoints:
        return {}
    from nimctl.plan.refresh import owner_of

    users: dict[str, list[str]] = {}
    listed: dict[str, list[JobInfo]] = {}
    for address, record in sorted(endpoints.items()):
        if record.provider not in listed:
            listed[record.provider] = providers[record.provider].list_jobs()
        for job in listed[record.provider]:
            marker = owner_of(job)
            if (
                job.state.terminal
                or marker is None
                or marker.lineage == state.lineage
                or marker.endpoint != record.name
            ):
                continue
            users.setdefault(address, []).append(f"job {job.name} ({job.platform_state}), {marker.describe()}")
    return users


def _mark_destroyed(journal: Journal, invocation_id: str) -> None:
    inv = journal.state.invocations.get(invocation_id)
    if inv is not None and inv.status != InvocationStatus.DESTROYED:
        journal.finish_invocation(invocation_id, InvocationStatus.DESTROYED)
