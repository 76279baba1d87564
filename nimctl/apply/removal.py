"""The removal steps apply and destroy share: delete or stop one resource, journaled, and forget
it only once the platform no longer has it.

Takes the journal, a provider and the recorded names; gives nothing back but the state change
(and ``ResourceStep(DESTROYED)`` events from ``destroy_addresses``). "Not found" counts as done,
so every step may run again after an interruption.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from nimctl.apply import lifetime
from nimctl.apply.events import Events, Note, ResourceStep, Step
from nimctl.apply.journal import Journal
from nimctl.apply.waiting import Poller
from nimctl.common.errors import NimctlError
from nimctl.providers.base import JobState, NotFound, Provider
from nimctl.state.model import Op, State
from nimctl.state.records import forget


def remove_endpoint(
    journal: Journal, provider: Provider, address: str, name: str, invocation_id: str, *, timeout: float = 600.0
) -> None:
    """Delete an endpoint and wait until the platform no longer lists it, then forget it."""
    entry = journal.intent(
        op=Op.DELETE,
        address=address,
        type="endpoint",
        provider=provider.name,
        name=name,
        invocation_id=invocation_id,
        platform_id=name,
    )
    record = journal.state.resources.get(address)
    if record is not None and lifetime.scheduled_for(record):
        lifetime.unschedule(journal, provider, address, name)  # type: ignore[arg-type]
    with contextlib.suppress(NotFound):
        provider.delete_endpoint(name)
    wait_gone(provider, name, timeout)
    journal.resolve(entry, lambda s: forget(s, address, name=name))


def remove_job(
    journal: Journal, provider: Provider, address: str, name: str, job_id: str | None, invocation_id: str
) -> None:
    entry = journal.intent(
        op=Op.DELETE,
        address=address,
        type="job",
        provider=provider.name,
        name=name,
        invocation_id=invocation_id,
        platform_id=job_id,
    )
    # Every job of this name: names are unique to an invocation and task, so all are ours, and a
    # submit whose answer timed out may have landed after nimctl's look-up and run twice.
    ids = {j.id for j in provider.find_jobs(name)} | ({job_id} if job_id else set())
    for jid in ids:
        with contextlib.suppress(NotFound):
            provider.delete_job(jid)
    journal.resolve(entry, lambda s: forget(s, address, name=name))


def stop_job(journal: Journal, provider: Provider, address: str, job_id: str | None, invocation_id: str) -> None:
    record = journal.state.resources[address]
    entry = journal.intent(
        op=Op.STOP,
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


def wait_gone(provider: Provider, name: str, timeout: float) -> None:
    """Re-read until the endpoint is gone: nimctl forgets nothing that may still exist."""
    deadline = time.monotonic() + timeout
    poller = Poller(first=0.1, cap=3.0)
    while True:
        if name not in {e.name for e in provider.list_endpoints()}:
            return
        if time.monotonic() > deadline:
            raise NimctlError(
                f"endpoint {name} is still listed by {provider.name} {timeout:g} s after its deletion was requested",
                hint="it may still be deleting; run `nimctl destroy` again later",
            )
        poller.sleep()


def _forgetting(address: str, name: str) -> Callable[[State], None]:
    def change(state: State) -> None:
        forget(state, address, name=name)

    return change


def destroy_addresses(
    journal: Journal,
    providers: dict[str, Provider],
    addresses: list[str],
    invocation_id: str,
    *,
    events: Events,
    stop_only_jobs: bool = False,
) -> list[str]:
    """Remove jobs, then endpoints; collect failures and report what is left. Gives the
    addresses removed (or, with ``stop_only_jobs``, jobs stopped)."""
    state = journal.state
    left: list[str] = []
    done: list[str] = []
    ordered = sorted(set(addresses), key=lambda a: (not a.startswith("job."), a))
    for address in ordered:
        record = state.resources.get(address)
        if record is None:
            continue
        provider = providers[record.provider]
        if record.is_shared:
            # Never deleted by this state: it is its owner's. Forgetting it is all there is to do.
            journal.mutate(_forgetting(address, record.name))
            events.emit(Note(address, f"{address}: forgotten (shared; the endpoint stays, it is its owner's)"))
            done.append(address)
            continue
        try:
            if record.type == "job":
                if stop_only_jobs:
                    stop_job(journal, provider, address, record.platform_id, invocation_id)
                else:
                    remove_job(journal, provider, address, record.name, record.platform_id, invocation_id)
            else:
                remove_endpoint(journal, provider, address, record.name, invocation_id)
            events.emit(ResourceStep(address, Step.DESTROYED, record.name, record.provider))
            done.append(address)
        except NimctlError as err:
            left.append(f"{address} ({record.name}): {err.message}")
    if left:
        raise NimctlError(
            "could not remove everything; still present:\n  " + "\n  ".join(left),
            hint="run `nimctl destroy` again once the platform answers",
        )
    return done
