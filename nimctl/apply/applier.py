"""``nimctl apply``: make the platform match the config, one journaled step at a time.

Order: settle what an interrupted run left → plan → confirm → job deletes → endpoint deletes
(and the delete half of replacements) → endpoint creates/updates → wait until ready → submit jobs
in parallel → wait for them → results. On failure or interruption the jobs this invocation
submitted are stopped and the endpoints it created are removed (unless --keep-on-failure).
"""

from __future__ import annotations

import contextlib
import secrets as pysecrets
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nimctl.apply import lifetime
from nimctl.apply.journal import Journal, checkpoint
from nimctl.apply.recovery import close_abandoned_invocations, settle_pending
from nimctl.apply.waiting import Poller, poll_jobs, wait_endpoints_ready
from nimctl.cli.context import RunContext, load_stacks, state_banner
from nimctl.cli.ui import UI, elapsed
from nimctl.common.errors import NimctlError
from nimctl.common.secrets import redact_spec
from nimctl.providers.base import (
    EndpointInfo,
    JobInfo,
    JobState,
    NotFound,
    Provider,
    ProviderError,
    Transient,
)
from nimctl.stack import ownership
from nimctl.stack.resources import DesiredEndpoint, DesiredJob, Stack
from nimctl.state.errors import StateWriteError
from nimctl.state.model import Invocation, State, now
from nimctl.state.records import endpoint_spec_hash, forget, observed_endpoint, observed_job

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


class Interrupted(KeyboardInterrupt):
    """SIGTERM (or Ctrl-C) while applying. A KeyboardInterrupt, so every step that leaves its
    journal entry on an interrupt treats both signals alike."""


@dataclass
class ApplyOptions:
    auto_approve: bool = False
    wait: bool = True
    keep_on_failure: bool = False
    destroy_after: bool = False
    parallelism: int = 10
    targets: list[str] = field(default_factory=list)


def new_invocation_id() -> str:
    return pysecrets.token_hex(8)


def run_apply(
    ctx: RunContext, files: list[str], overrides: list[str], options: ApplyOptions, *, plan_file: str | None = None
) -> int:
    ui = ctx.ui
    stacks = load_stacks(files, overrides, ui) if not plan_file else None
    with ctx.store.lock("apply", timeout=ctx.lock_timeout):
        state = ctx.store.read()
        ui.print(state_banner(ctx, state))
        # A read-only, full or failing state directory is refused before the first side effect.
        ctx.store.check_writable()
        journal = Journal(ctx.store, state)
        if plan_file:
            from nimctl.plan.planfile import load_plan_file

            saved = load_plan_file(plan_file)
            stacks = saved.stacks
            options.targets = list(saved.targets)  # the fresh plan must cover what the saved one did
        assert stacks is not None
        from nimctl.stack.speccheck import check_lepton_specs, raise_on_problems

        # Before any side effect; specs checked by an earlier plan/apply are not parsed again.
        raise_on_problems(check_lepton_specs(stacks, may_import_sdk=True))
        providers = ctx.providers_for(_platforms(stacks, state))
        for settled in settle_pending(journal, providers):
            ui.warn(f"settled an interrupted run's step: {settled.describe()}")
        plan, observed = _plan(stacks, state, providers, options, plan_file, ui)
        plan.cost = _cost(plan, stacks, options)
        # After the saved plan's staleness check: this write is not a change the plan missed.
        for inv_id in close_abandoned_invocations(journal):
            ui.warn(f"invocation {inv_id} was interrupted: its nimctl process ended before finishing")
        from nimctl.plan.render import render_text

        waits = _running_jobs_to_wait(stacks, state, plan)
        if not plan.has_changes and not waits:
            ui.print(render_text(plan, color=ui.color))
            _move_lifetimes(ctx, journal, stacks, providers, plan)
            return EXIT_OK
        ui.print(render_text(plan, color=ui.color))
        if not options.auto_approve and not _approved(ui):
            ui.print("Apply cancelled.")
            return EXIT_FAILED
        return Applier(ctx, journal, stacks, providers, options, files or [plan_file or ""]).run(plan, waits)


def _move_lifetimes(
    ctx: RunContext, journal: Journal, stacks: list[Stack], providers: dict[str, Provider], plan: Any
) -> None:
    """An apply with nothing else to do still moves each endpoint's max_lifetime deadline (the
    lifetime counts from the last apply)."""
    for stack in stacks:
        desired = stack.endpoint
        record = journal.state.resources.get(desired.address) if desired else None
        if desired is None or record is None or desired.platform != "lepton" or plan.change(desired.address) is None:
            continue
        if desired.max_lifetime_s is None and not lifetime.scheduled_for(record):
            continue
        marker = ownership.Marker.new(
            lineage=journal.state.lineage,
            state=ctx.store.locator,
            stack=desired.stack,
            invocation=record.invocation_id or "",
            endpoint=desired.name,
        )
        moved = sync_lifetime(journal, providers[desired.platform], desired, marker)
        if moved:
            ctx.ui.print(moved)


def _platforms(stacks: list[Stack], state: State) -> set[str]:
    platforms = {s.platform for s in stacks}
    platforms |= {r.provider for r in state.resources.values()}
    platforms |= {p.provider for p in state.pending}
    return platforms


def _plan(
    stacks: list[Stack],
    state: State,
    providers: dict[str, Provider],
    options: ApplyOptions,
    plan_file: str | None,
    ui: UI,
) -> tuple[Any, Any]:
    from nimctl.plan import make_plan, refresh

    observed = refresh(state, providers)
    plan = make_plan(stacks, state, observed, targets=options.targets, salt=state.lineage)
    if plan_file:
        from nimctl.plan.planfile import check_plan_fresh

        check_plan_fresh(plan_file, plan, state, observed)
    return plan, observed


def _cost(plan: Any, stacks: list[Stack], options: ApplyOptions) -> Any:
    """The plan's cost block (shown with it), with the gap warnings --no-wait adds."""
    from nimctl.config.prices import load_prices
    from nimctl.plan.cost import estimate

    return estimate(plan, stacks, load_prices(), no_wait=not options.wait)


def _approved(ui: UI) -> bool:
    import sys

    if not sys.stdin.isatty():
        raise NimctlError(
            "apply needs confirmation but there is no terminal to ask on",
            hint="review `nimctl plan`, then run `nimctl apply --auto-approve`",
        )
    return ui.confirm("Do you want to perform these actions? Only 'yes' will be accepted.")


def _running_jobs_to_wait(stacks: list[Stack], state: State, plan: Any) -> list[str]:
    """Jobs a previous --no-wait run left running with the same inputs: apply waits on them."""
    running_changes = {c.address for c in plan.changes if c.actions == ["no-op"] and c.type == "job"}
    waits = []
    for address in sorted(running_changes):
        record = state.resources.get(address)
        if record and not JobState(record.observed.get("state", "unknown")).terminal:
            waits.append(address)
    return waits


class Applier:
    def __init__(
        self,
        ctx: RunContext,
        journal: Journal,
        stacks: list[Stack],
        providers: dict[str, Provider],
        options: ApplyOptions,
        config_files: list[str],
    ) -> None:
        self.ctx = ctx
        self.ui = ctx.ui
        self.journal = journal
        self.state = journal.state
        self.salt = self.state.lineage
        self.stacks = stacks
        self.providers = providers
        self.options = options
        self.config_files = config_files
        self.endpoints: dict[str, DesiredEndpoint] = {s.endpoint.address: s.endpoint for s in stacks if s.endpoint}
        self.jobs: dict[str, DesiredJob] = {j.address: j for s in stacks for j in s.jobs}
        self.stack_of: dict[str, Stack] = {s.name: s for s in stacks}
        self.invocation = Invocation(
            id=new_invocation_id(), command="apply", config_files=[str(f) for f in config_files]
        )
        self._cancel = threading.Event()
        self._interrupts = 0

    # -- the run ---------------------------------------------------------------------------
    def run(self, plan: Any, waits: list[str]) -> int:
        self.ui.print(f"Invocation: {self.invocation.id}")
        # Handlers first: a Ctrl-C or SIGTERM right after the invocation is recorded must still
        # end as an interrupted invocation (exit 130), not as one left 'running' forever.
        previous = self._install_signal_handlers()
        try:
            self.journal.start_invocation(self.invocation)
            outcome = self._execute(plan, waits)
        except (KeyboardInterrupt, Interrupted):
            return self._fail("interrupted", "interrupted by the user", EXIT_INTERRUPTED)
        except StateWriteError as err:
            return self._state_unwritable(err)
        except NimctlError as err:
            self.ui.error(str(err))
            return self._fail("failed", err.message, EXIT_FAILED)
        finally:
            self._restore_signal_handlers(previous)
        return outcome

    def _execute(self, plan: Any, waits: list[str]) -> int:
        def changes(kind: str, *action_lists: tuple[str, ...]) -> list[Any]:
            return sorted(
                (c for c in plan.changes if c.type == kind and tuple(c.actions) in action_lists),
                key=lambda c: c.address,
            )

        delete, create, update, replace = ("delete",), ("create",), ("update",), ("delete", "create")
        for change in changes("job", delete):
            self._delete_job_record(change.address)
        for change in changes("endpoint", delete, replace):
            self._delete_endpoint_record(change.address)

        touched: list[str] = []
        for change in changes("endpoint", replace, create):
            self._create_endpoint(self.endpoints[change.address])
            touched.append(change.address)
        for change in changes("endpoint", update):
            self._update_endpoint(self.endpoints[change.address])
            touched.append(change.address)

        to_run = [self.jobs[c.address] for c in changes("job", create, replace)]
        # A re-run of a job whose previous run is still active (``replace``): the plan promises to stop
        # that run first. Removing it also keeps the state from forgetting a running object.
        for change in changes("job", replace):
            self._delete_job_record(change.address)
        self._schedule_lifetimes(plan)
        needed = set(touched) | {f"endpoint.{j.endpoint}" for j in to_run if j.endpoint}
        urls = self._wait_ready(sorted(needed)) if needed else {}
        submitted = self._submit_jobs(to_run, urls)
        if not self.options.wait:
            self.journal.finish_invocation(self.invocation.id, "succeeded")
            self.ui.print(
                f"Submitted {len(submitted)} job(s); `nimctl status {self.invocation.id}` "
                "shows their progress and the next `nimctl apply` picks up their results."
            )
            self._print_endpoint_notice()
            return EXIT_OK
        finished = self._wait_jobs(submitted + waits)
        failed = [a for a, info in finished.items() if info.state != JobState.SUCCEEDED]
        self._print_results(finished)
        destroy_after = self.options.destroy_after or any(s.destroy_after for s in self.stacks)
        if destroy_after:
            self._destroy_after(submitted + waits)
        if failed:
            self.journal.finish_invocation(
                self.invocation.id, "failed", f"{len(failed)} evaluation job(s) did not succeed"
            )
            self.ui.error(
                f"{len(failed)} job(s) did not succeed: {', '.join(sorted(failed))}. "
                "The endpoint is kept; the next `nimctl apply` re-runs only these."
            )
            if not destroy_after:
                self._print_endpoint_notice()
            return EXIT_FAILED
        self.journal.finish_invocation(self.invocation.id, "succeeded")
        if not destroy_after:
            self._print_endpoint_notice()
        self.ui.success("Apply complete.")
        return EXIT_OK

    # -- endpoints -------------------------------------------------------------------------
    def _create_endpoint(self, desired: DesiredEndpoint) -> None:
        provider = self.providers[desired.platform]
        redacted = redact_spec(desired.spec, self.salt)
        self.ui.print(f"{desired.address}: creating {desired.name} on {desired.platform}")

        def record(state: State, info: EndpointInfo) -> None:
            self._record_endpoint(state, desired, info, created=True)
            state.resources[desired.address].extra["owner"] = marker.to_dict()

        # The marker goes on the platform object only: the recorded spec stays the desired one.
        marker = self._marker(desired.stack)
        sent = ownership.mark(desired.spec, marker, local_spec=desired.platform == "local")
        self.journal.step(
            lambda: provider.create_endpoint(desired.name, sent),
            record=record,
            keep_on=(Transient,),
            op="create",
            address=desired.address,
            type="endpoint",
            provider=desired.platform,
            name=desired.name,
            invocation_id=self.invocation.id,
            stack=desired.stack,
            spec=redacted,
            inputs_hash=endpoint_spec_hash(redacted),
        )

    def _schedule_lifetimes(self, plan: Any) -> None:
        """Right after the endpoints are created or updated (before the readiness wait, which
        nimctl may not survive): every endpoint of this apply with a max_lifetime gets its
        deletion job (re)scheduled at now + max_lifetime; one whose config dropped it loses it."""
        in_scope = [c.address for c in plan.changes if c.type == "endpoint" and c.actions != ["delete"]]
        for address in sorted(in_scope):
            desired = self.endpoints.get(address)
            if desired is None or address not in self.state.resources or desired.platform != "lepton":
                continue
            moved = sync_lifetime(
                self.journal,
                self.providers[desired.platform],
                desired,
                self._marker(desired.stack, endpoint=desired.name),
            )
            if moved:
                self.ui.print(moved)

    def _marker(self, stack: str, *, endpoint: str = "") -> ownership.Marker:
        return ownership.Marker.new(
            lineage=self.state.lineage,
            state=self.ctx.store.locator,
            stack=stack,
            invocation=self.invocation.id,
            endpoint=endpoint,
        )

    def _update_endpoint(self, desired: DesiredEndpoint) -> None:
        provider = self.providers[desired.platform]
        redacted = redact_spec(desired.spec, self.salt)
        self.ui.print(f"{desired.address}: updating {desired.name} in place")

        def record(state: State, info: EndpointInfo) -> None:
            self._record_endpoint(state, desired, info, created=False)

        self.journal.step(
            lambda: provider.update_endpoint(desired.name, desired.spec),
            record=record,
            op="update",
            address=desired.address,
            type="endpoint",
            provider=desired.platform,
            name=desired.name,
            invocation_id=self.invocation.id,
            stack=desired.stack,
            platform_id=desired.name,
            spec=redacted,
            inputs_hash=endpoint_spec_hash(redacted),
        )

    def _record_endpoint(self, state: State, desired: DesiredEndpoint, info: EndpointInfo, *, created: bool) -> None:
        from nimctl.state.records import record_endpoint

        previous = state.resources.get(desired.address)
        creator = self.invocation.id if created or previous is None else previous.invocation_id
        record_endpoint(state, desired, info, invocation_id=creator, salt=self.salt)
        if created:
            self._note_created(state, desired.address)

    def _note_created(self, state: State, address: str) -> None:
        inv = state.invocations[self.invocation.id]
        if address not in inv.created:
            inv.created.append(address)

    def _delete_endpoint_record(self, address: str) -> None:
        record = self.state.resources.get(address)
        if record is None:
            return
        provider = self.providers[record.provider]
        self.ui.print(f"{address}: deleting {record.name}")
        remove_endpoint(self.journal, provider, address, record.name, self.invocation.id, ui=self.ui)

    def _wait_ready(self, addresses: list[str]) -> dict[str, str]:
        waiting = {
            a: (self.endpoints[a], self.providers[self.endpoints[a].platform]) for a in addresses if a in self.endpoints
        }
        started = time.monotonic()
        with self.ui.progress() as progress:

            def on_update(address: str, text: str, info: EndpointInfo | None) -> None:
                replicas = f", {info.ready_replicas} replica(s) ready" if info and info.ready_replicas else ""
                progress.update(address, f"{text}{replicas}", live_suffix=f" [{elapsed(time.monotonic() - started)}]")

            ready = wait_endpoints_ready(waiting, on_update)
        checkpoint("endpoints:ready")

        def record(state: State) -> None:
            for address, info in ready.items():
                if address in state.resources:
                    state.resources[address].observed = observed_endpoint(info)

        self.journal.mutate(record)
        return {a: info.url or "" for a, info in ready.items()}

    # -- jobs ------------------------------------------------------------------------------
    def _submit_jobs(self, jobs: list[DesiredJob], urls: dict[str, str]) -> list[str]:
        if not jobs:
            return []
        from nimctl.stack.builder import render_job_spec

        submitted: list[str] = []
        errors: list[str] = []
        lock = threading.Lock()

        def submit(job: DesiredJob) -> None:
            if self._cancel.is_set():
                return
            url = urls.get(f"endpoint.{job.endpoint}") if job.endpoint else job.target_url
            name, spec = render_job_spec(job, invocation_id=self.invocation.id, endpoint_url=url)
            provider = self.providers[job.platform]
            redacted = redact_spec(spec, self.salt)
            marker = self._marker(job.stack, endpoint=job.endpoint or "")
            sent = ownership.mark(spec, marker, local_spec=job.platform == "local")

            def record(state: State, info: JobInfo) -> None:
                from nimctl.state.records import record_job

                record_job(state, job, info, invocation_id=self.invocation.id, salt=self.salt, spec=spec)
                state.resources[job.address].extra["results_dir"] = results_dir(spec)
                self._note_created(state, job.address)
                state.resources[job.address].extra["owner"] = marker.to_dict()

            try:
                self.journal.step(
                    lambda: provider.submit_job(name, sent),
                    record=record,
                    keep_on=(Transient,),
                    op="submit",
                    address=job.address,
                    type="job",
                    provider=job.platform,
                    name=name,
                    invocation_id=self.invocation.id,
                    stack=job.stack,
                    spec=redacted,
                    inputs_hash=job.inputs_hash,
                )
            except ProviderError as err:
                with lock:
                    errors.append(f"{job.address}: {err}")
                return
            with lock:
                submitted.append(job.address)
            self.ui.print(f"{job.address}: submitted as {name}")

        with ThreadPoolExecutor(max_workers=self.options.parallelism, thread_name_prefix="submit") as pool:
            futures: set[Future] = {pool.submit(submit, job) for job in jobs}
            try:
                while futures:
                    _, futures = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
            except BaseException:
                self._cancel.set()  # unstarted submissions return at once; in-flight ones finish
                raise
        checkpoint("jobs:submitted")
        if errors:
            raise NimctlError(
                "job submission failed:\n  " + "\n  ".join(errors), hint="fix the cause and run `nimctl apply` again"
            )
        return sorted(submitted)

    def _wait_jobs(self, addresses: list[str]) -> dict[str, JobInfo]:
        pending = {a: self.state.resources[a] for a in addresses if a in self.state.resources}
        finished: dict[str, JobInfo] = {}
        poller = Poller()
        started = time.monotonic()
        with self.ui.progress() as progress:
            while pending:
                by_provider: dict[Provider, set[str]] = {}
                for record in pending.values():
                    by_provider.setdefault(self.providers[record.provider], set()).add(record.platform_id or "")
                live = poll_jobs(by_provider)
                updates: dict[str, JobInfo | None] = {}
                for address, record in list(pending.items()):
                    info = live.get(record.platform_id or "")
                    updates[address] = info
                    state_word = info.platform_state if info else "gone"
                    progress.update(
                        address, f"{record.name}: {state_word}", live_suffix=f" [{elapsed(time.monotonic() - started)}]"
                    )
                    if info is None or info.state.terminal:
                        finished[address] = info or _gone_job(record)
                        del pending[address]
                # A round where no job changed state writes nothing: during an hours-long
                # evaluation the whole state would otherwise be rewritten at every poll.
                changed = {a: i for a, i in updates.items() if self._observation_changed(a, i)}
                if changed:
                    self.journal.mutate(lambda s, u=changed: self._record_job_observations(s, u))
                if pending:
                    poller.sleep()
        checkpoint("jobs:finished")
        return finished

    def _observation_changed(self, address: str, info: JobInfo | None) -> bool:
        record = self.state.resources.get(address)
        if record is None:
            return False
        if info is None or info.state.terminal:
            return True  # recorded with its result, always
        seen = record.observed
        return (seen.get("state"), seen.get("platform_state")) != (info.state.value, info.platform_state)

    def _record_job_observations(self, state: State, updates: dict[str, JobInfo | None]) -> None:
        inv = state.invocations[self.invocation.id]
        for address, info in updates.items():
            record = state.resources.get(address)
            if record is None:
                continue
            if info is None:
                record.observed = {**record.observed, "state": JobState.GONE.value, "at": now()}
            else:
                record.observed = observed_job(info)
            if info is None or info.state.terminal:
                inv.job_results[address] = job_result(record, info)

    def _print_results(self, finished: dict[str, JobInfo]) -> None:
        inv = self.state.invocations[self.invocation.id]
        rows = []
        for address in sorted(finished):
            result = inv.job_results.get(address, {})
            rows.append(
                [
                    address,
                    result.get("state", "?"),
                    _duration(result),
                    result.get("summary", ""),
                    result.get("results_dir") or "",
                ]
            )
        if rows:
            self.ui.print("")
            self.ui.table(["task", "state", "duration", "result", "results"], rows)

    def _delete_job_record(self, address: str) -> None:
        record = self.state.resources.get(address)
        if record is None:
            return
        provider = self.providers[record.provider]
        self.ui.print(f"{address}: deleting job {record.name}")
        remove_job(self.journal, provider, address, record.name, record.platform_id, self.invocation.id)

    def _destroy_after(self, job_addresses: list[str]) -> None:
        stacks = {self.state.resources[a].stack for a in job_addresses if a in self.state.resources}
        for stack in sorted(stacks):
            ep = self.stack_of.get(stack).endpoint if stack in self.stack_of else None
            if ep is not None and ep.address in self.state.resources:
                self.ui.print(f"{ep.address}: every job has finished; removing it (--destroy-after)")
                self._delete_endpoint_record(ep.address)

    def _print_endpoint_notice(self) -> None:
        for address in sorted(self.endpoints):
            record = self.state.resources.get(address)
            if record is None:
                continue
            url = record.observed.get("url") or ""
            creator = record.invocation_id or self.invocation.id
            self.ui.print(
                f"Endpoint {record.name} is still running{f' at {url}' if url else ''}. "
                f"To remove it: nimctl destroy {creator}"
            )

    # -- failure and interruption ----------------------------------------------------------
    def _install_signal_handlers(self) -> dict[int, Any]:
        previous = {}

        def handler(signum: int, frame: Any) -> None:
            self._interrupts += 1
            self._cancel.set()
            raise Interrupted(signal.Signals(signum).name)

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, handler)
        return previous

    def _restore_signal_handlers(self, previous: dict[int, Any]) -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    def _fail(self, status: str, reason: str, code: int) -> int:
        """Stop what this invocation started; remove the endpoints it created (the seed's cleanup)."""
        self._cancel.set()
        inv_id = self.invocation.id
        if inv_id not in self.state.invocations:
            return code  # interrupted before the invocation was recorded: nothing was started
        try:
            if self.options.keep_on_failure:
                self.ui.warn(f"--keep-on-failure: leaving what this run created. To remove it: nimctl destroy {inv_id}")
            else:
                self.ui.print(
                    f"Cleaning up after the {status} run (Ctrl-C again to skip; "
                    f"`nimctl destroy {inv_id}` finishes it later)..."
                )
                self._cleanup_created()
            self.journal.finish_invocation(inv_id, status, reason)
        except (KeyboardInterrupt, Interrupted):
            self.ui.error(f"Cleanup skipped. What is left is recorded: run `nimctl destroy {inv_id}`.")
            with contextlib.suppress(KeyboardInterrupt, Interrupted, NimctlError):
                self.journal.finish_invocation(inv_id, "interrupted", reason)
            return EXIT_INTERRUPTED
        except NimctlError as err:
            self.ui.error(f"cleanup failed: {err}. Run `nimctl destroy {inv_id}` to finish it.")
            self.journal.finish_invocation(inv_id, status, reason)
        return code

    def _state_unwritable(self, err: StateWriteError) -> int:
        """The state stopped taking writes after a side effect. Nothing more is attempted (every
        step must be journaled first); what this run did is recoverable from the journal on disk:
        each call's intent was written before the call."""
        self._cancel.set()
        inv = self.state.invocations.get(self.invocation.id)
        made = sorted(set(inv.created if inv else []) | {p.address for p in self.state.pending})
        self.ui.error(str(err))
        what = f"This run had created or started: {', '.join(made)}. " if made else ""
        self.ui.error(
            f"{what}Each step was journaled in the state file before it was taken. Once "
            f"{self.ctx.store.path.parent} takes writes again, `nimctl apply` continues (it adopts "
            f"what this run created) and `nimctl destroy {self.invocation.id}` removes it."
        )
        return EXIT_FAILED

    def _cleanup_created(self) -> None:
        from nimctl.apply.destroy import destroy_addresses

        # Steps whose outcome is unknown (a lost response) are settled first: whatever they created
        # is adopted into the invocation, so it is cleaned up like the rest.
        settle_pending(self.journal, self.providers)
        inv = self.state.invocations[self.invocation.id]
        jobs = [a for a in inv.created if a.startswith("job.")]
        endpoints = [a for a in inv.created if a.startswith("endpoint.")]
        # Jobs are stopped, not deleted, so their logs stay readable; `destroy` removes them.
        destroy_addresses(
            self.journal, self.providers, jobs + endpoints, self.invocation.id, ui=self.ui, stop_only_jobs=True
        )


# -- shared removal steps (also used by destroy) -----------------------------------------------


def remove_endpoint(
    journal: Journal, provider: Provider, address: str, name: str, invocation_id: str, *, ui: UI, timeout: float = 600.0
) -> None:
    """Delete an endpoint and wait until the platform no longer lists it, then forget it."""
    entry = journal.intent(
        op="delete",
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
        op="delete",
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


def sync_lifetime(journal: Journal, provider: Any, desired: DesiredEndpoint, marker: ownership.Marker) -> str:
    """Make the endpoint's max_lifetime job match the config (``nimctl.apply.lifetime``): schedule
    or move it, or remove it when the config no longer asks for one. Returns what it did ('' when
    nothing)."""
    from datetime import datetime, timezone

    record = journal.state.resources[desired.address]
    if desired.max_lifetime_s is None:
        if lifetime.scheduled_for(record):
            lifetime.unschedule(journal, provider, desired.address, desired.name)
            return f"{desired.address}: max_lifetime removed from the config; its deletion job is gone"
        return ""
    done = lifetime.schedule(journal, provider, desired, marker)
    when = datetime.fromtimestamp(done.deadline, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    verb = "moved to" if done.replaced else "scheduled for"
    return f"{desired.address}: max_lifetime: job {done.job_name} deletes it at {when} ({verb} now + max_lifetime)"


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


def results_dir(spec: dict[str, Any]) -> str | None:
    if spec.get("output_dir"):
        return str(spec["output_dir"])
    for env in spec.get("envs") or []:
        if env.get("name") == "NIMCTL_OUTPUT_DIR":
            return env.get("value")
    return None


def job_result(record: Any, info: JobInfo | None) -> dict[str, Any]:
    state = info.state.value if info else JobState.GONE.value
    result: dict[str, Any] = {
        "task": record.address.split(".", 2)[-1],
        "job": record.name,
        "state": state,
        "platform_state": info.platform_state if info else "gone",
        "started_at": info.created_at if info else None,
        "finished_at": info.finished_at if info else None,
        "results_dir": record.extra.get("results_dir"),
    }
    summary = read_results_summary(result["results_dir"])
    if summary:
        result["summary"] = summary
    return result


def read_results_summary(directory: str | None) -> str:
    """One line from a results.json nimctl's built-in tasks (or any task) wrote, if readable."""
    if not directory:
        return ""
    path = Path(directory) / "results.json"
    try:
        import json

        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return ""
    if not isinstance(data, dict):
        return ""
    if isinstance(data.get("summary"), str):
        return data["summary"]
    if "checks" in data:
        checks = data.get("checks") or []
        passed = sum(1 for c in checks if c.get("passed"))
        return f"{passed}/{len(checks)} checks passed"
    if "levels" in data:
        parts = []
        for level in data.get("levels") or []:
            rps = level.get("requests_per_s")
            parts.append(
                f"c={level.get('concurrency')}: {rps:.1f} req/s"
                if isinstance(rps, (int, float))
                else f"c={level.get('concurrency')}"
            )
        return "; ".join(parts)
    if "passed" in data:
        return "passed" if data["passed"] else "failed"
    return ""


def _duration(result: dict[str, Any]) -> str:
    start, end = result.get("started_at"), result.get("finished_at")
    return f"{end - start:.1f}s" if isinstance(start, (int, float)) and isinstance(end, (int, float)) else ""


def _gone_job(record: Any) -> JobInfo:
    return JobInfo(id=record.platform_id or "", name=record.name, state=JobState.GONE, platform_state="gone", spec={})
