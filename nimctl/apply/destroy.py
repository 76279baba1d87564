"""``nimctl destroy``: remove what an invocation, a config, or everything left behind.

What to remove is the union of the state's records, the journal's pending entries (settled
first, so an object created by a killed run is found by the name recorded before its creation)
and a live lookup by those names. Jobs go first, then endpoints; "not found" counts as done, and
an object is forgotten only after a re-read shows it gone. Running it twice is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nimctl.apply.journal import Journal
from nimctl.apply.recovery import close_abandoned_invocations, settle_pending
from nimctl.cli.context import RunContext, load_stacks
from nimctl.cli.ui import UI
from nimctl.common.errors import NimctlError
from nimctl.providers.base import EndpointInfo, JobInfo, JobState, NotFound, Provider
from nimctl.state.model import State


@dataclass
class DestroyOptions:
    invocation: str | None = None
    files: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    all: bool = False
    auto_approve: bool = False
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


def run_destroy(ctx: RunContext, options: DestroyOptions) -> int:
    ui = ctx.ui
    stack_names: set[str] | None = None
    if options.files:
        stack_names = {s.name for s in load_stacks(options.files, options.overrides, ui)}
    with ctx.store.lock("destroy", timeout=ctx.lock_timeout):
        state = ctx.store.read()
        ctx.store.check_writable()  # before the first side effect
        journal = Journal(ctx.store, state)
        platforms = {r.provider for r in state.resources.values()} | {p.provider for p in state.pending}
        providers = ctx.providers_for(platforms)
        invocation_id = resolve_invocation(state, options.invocation) if options.invocation else None
        for settled in settle_pending(journal, providers):
            ui.warn(f"settled an interrupted run's step: {settled.describe()}")
        for inv_id in close_abandoned_invocations(journal):
            ui.warn(f"invocation {inv_id} was interrupted: its nimctl process ended before finishing")
        addresses = _select(state, invocation_id, stack_names)
        if not addresses:
            ui.print("Nothing to destroy.")
            if invocation_id:
                _mark_destroyed(journal, invocation_id)
            return 0
        live = _live_view(state, addresses, providers)
        _show_destroy_plan(ui, state, addresses, live)
        shared = _shared_endpoints(state, addresses, invocation_id)
        if shared and not options.force:
            for address, users in shared.items():
                ui.warn(f"{address} is still used by invocation(s) {', '.join(users)}")
            raise NimctlError(
                "refusing to remove an endpoint that another invocation still uses",
                hint="wait for those jobs, or pass --force",
            )
        if not options.auto_approve and not _approved(ui):
            ui.print("Destroy cancelled.")
            return 1
        destroy_addresses(journal, providers, addresses, invocation_id or "destroy", ui=ui)
        if invocation_id:
            _mark_destroyed(journal, invocation_id)
        ui.success(f"Destroy complete: {len(addresses)} resource(s) removed.")
        return 0


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


def _show_destroy_plan(ui: UI, state: State, addresses: list[str], live: dict[str, str]) -> None:
    ui.print("nimctl will destroy:")
    for address in addresses:
        record = state.resources[address]
        ui.print(f"  - {address}  ({record.type} {record.name} on {record.provider}, now {live[address]})")
    ui.print(f"\nPlan: 0 to add, 0 to change, 0 to replace, {len(addresses)} to destroy.")


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


def _approved(ui: UI) -> bool:
    import sys

    if not sys.stdin.isatty():
        raise NimctlError(
            "destroy needs confirmation but there is no terminal to ask on", hint="run it again with --auto-approve"
        )
    return ui.confirm("Do you really want to destroy these resources? Only 'yes' will be accepted.")


def _mark_destroyed(journal: Journal, invocation_id: str) -> None:
    inv = journal.state.invocations.get(invocation_id)
    if inv is not None and inv.status != "destroyed":
        journal.finish_invocation(invocation_id, "destroyed")


def destroy_addresses(
    journal: Journal,
    providers: dict[str, Provider],
    addresses: list[str],
    invocation_id: str,
    *,
    ui: UI,
    stop_only_jobs: bool = False,
) -> None:
    """Remove jobs, then endpoints; collect failures and report what is left."""
    from nimctl.apply.applier import remove_endpoint, remove_job

    state = journal.state
    left: list[str] = []
    ordered = sorted(set(addresses), key=lambda a: (not a.startswith("job."), a))
    for address in ordered:
        record = state.resources.get(address)
        if record is None:
            continue
        provider = providers[record.provider]
        try:
            if record.type == "job":
                if stop_only_jobs:
                    stop_job(journal, provider, address, record.platform_id, invocation_id)
                else:
                    remove_job(journal, provider, address, record.name, record.platform_id, invocation_id)
            else:
                remove_endpoint(journal, provider, address, record.name, invocation_id, ui=ui)
            ui.print(f"{address}: destroyed")
        except NimctlError as err:
            left.append(f"{address} ({record.name}): {err.message}")
    if left:
        raise NimctlError(
            "could not remove everything; still present:\n  " + "\n  ".join(left),
            hint="run `nimctl destroy` again once the platform answers",
        )


def stop_job(journal: Journal, provider: Provider, address: str, job_id: str | None, invocation_id: str) -> None:
    record = journal.state.resources[address]
    entry = journal.intent(
        op="stop",
        address=address,
        type="job",
        provider=provider.name,
        name=record.name,
        invocation_id=invocation_id,
        platform_id=job_id,
    )
    try:
        if job_id:
            provider.stop_job(job_id)
    except NotFound:
        pass

    def mark(state: State) -> None:
        if address in state.resources:
            state.resources[address].observed["state"] = JobState.STOPPED.value

    journal.resolve(entry, mark)
