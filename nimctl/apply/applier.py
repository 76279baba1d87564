"""``nimctl apply``: make the platform match the config, one journaled step at a time.

Order: settle what an interrupted run left → plan → confirm → job deletes → endpoint deletes
(and the delete half of replacements) → endpoint creates/updates → wait until ready → submit jobs
in parallel → wait for them → results. On failure or interruption the jobs this invocation
submitted are stopped and the endpoints it created are removed (unless --keep-on-failure).
"""

from __future__ import annotations

import contextlib
import os
import secrets as pysecrets
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from nimctl import __version__
from nimctl.apply import lifetime
from nimctl.apply.events import (
    ApplyComplete,
    Approve,
    CleanupStart,
    EndpointKept,
    ErrorMessage,
    Events,
    InvocationStarted,
    JobResults,
    JobsFailed,
    JobsSubmitted,
    Note,
    Outcome,
    Phase,
    PlanReady,
    Progress,
    ResourceStep,
    RunStart,
    StateRead,
    Step,
    WaitEnd,
    WaitStart,
    WarningMessage,
)
from nimctl.apply.journal import Journal
from nimctl.apply.recovery import close_abandoned_invocations, settle_pending
from nimctl.apply.removal import destroy_addresses, remove_endpoint, remove_job
from nimctl.apply.waiting import Poller, poll_jobs, unreachable_timeout_s, wait_endpoints_ready
from nimctl.apply.workspace import Workspace
from nimctl.common import job_vars
from nimctl.common.checkpoints import checkpoint
from nimctl.common.errors import NimctlError
from nimctl.common.secrets import redact_spec
from nimctl.plan.actions import Action
from nimctl.providers.base import (
    EndpointInfo,
    JobInfo,
    JobState,
    Provider,
    ProviderError,
    Transient,
)
from nimctl.results.evalfactory import BUILTIN_RESULTS_FILE
from nimctl.stack import ownership
from nimctl.stack.resources import DesiredEndpoint, DesiredJob, Stack
from nimctl.stack.specs.markers import INVOCATION_MARKER
from nimctl.state.errors import StateWriteError
from nimctl.state.model import Invocation, InvocationStatus, Op, ResourceRecord, State, now
from nimctl.state.records import endpoint_spec_hash, forget, observed_endpoint, observed_job


class Interrupted(KeyboardInterrupt):
    """SIGTERM (or Ctrl-C) while applying. A KeyboardInterrupt, so every step that leaves its
    journal entry on an interrupt treats both signals alike."""


@dataclass
class ApplyOptions:
    wait: bool = True
    keep_on_failure: bool = False
    destroy_after: bool = False
    parallelism: int = 10
    targets: list[str] = field(default_factory=list)
    replace: list[str] = field(default_factory=list)  # addresses recreated / run again (--replace)
    prune: bool = False  # the configs are authoritative: remove stacks they do not name
    share_existing: bool = False  # use a live endpoint that is not this state's, without owning it


AfterJobs = Callable[[str, State, Events], None]
"""Called with (invocation id, state, events) once an apply's jobs have finished."""


def new_invocation_id() -> str:
    return pysecrets.token_hex(8)


def run_apply(
    ws: Workspace,
    stacks: list[Stack] | None,
    options: ApplyOptions,
    events: Events,
    approve: Approve,
    *,
    plan_file: str | None = None,
    config_files: list[str] | None = None,
    after_jobs: AfterJobs | None = None,
    invocation_id: str | None = None,
) -> int:
    """Apply ``stacks`` (or the saved plan in ``plan_file``). ``approve`` is asked once the plan is
    shown, unless there is nothing to do. ``after_jobs`` runs once the jobs have finished and the
    invocation is recorded (the CLI's auto-export); it cannot change the outcome. Gives the exit
    code (``Outcome.exit_code``). ``invocation_id`` is chosen here unless given (tests fix it to
    get stable names)."""
    invocation_id = invocation_id or new_invocation_id()
    events.emit(RunStart("apply", invocation_id, __version__))
    with ws.store.lock("apply", timeout=ws.lock_timeout):
        state = ws.store.read()
        events.emit(StateRead(ws.store.locator, ws.store.exists(), state.lineage, state.serial))
        # A read-only, full or failing state directory is refused before the first side effect.
        ws.store.check_writable()
        journal = Journal(ws.store, state)
        if plan_file:
            from nimctl.plan.planfile import check_plan_state, load_plan_file

            saved = load_plan_file(plan_file)
            check_plan_state(saved, state)  # another state's plan is refused before any platform call
            stacks = saved.stacks
            options.targets = list(saved.targets)  # the fresh plan must cover what the saved one did
            options.prune = saved.plan.prune
            options.share_existing = any(c.shared for c in saved.plan.resource_changes)
        assert stacks is not None
        from nimctl.stack.speccheck import check_lepton_specs, raise_on_problems

        # Before any side effect; specs checked by an earlier plan/apply are not parsed again.
        raise_on_problems(check_lepton_specs(stacks, may_import_sdk=True))
        providers = ws.providers_for(_platforms(stacks, state, options.prune))
        # Node groups by id; a missing secret, shape or host: variable stops here, before anything
        # (even an interrupted run's step) is created.
        _workspace_preflight(stacks, providers, events)
        for settled in settle_pending(journal, providers):
            events.emit(WarningMessage(f"settled an interrupted run's step: {settled.describe()}"))
        plan, observed = _plan(stacks, state, providers, options, plan_file)
        plan.cost = _cost(plan, stacks, options)
        # After the saved plan's staleness check: this write is not a change the plan missed.
        for inv_id in close_abandoned_invocations(journal):
            events.emit(
                WarningMessage(f"invocation {inv_id} was interrupted: its nimctl process ended before finishing")
            )
        waits = _running_jobs_to_wait(stacks, state, plan)
        events.emit(PlanReady(plan))
        summary = _plan_counts(plan)
        if not plan.has_changes and not waits:
            _move_lifetimes(ws, journal, stacks, providers, plan, events)
            return _complete(events, Outcome.NO_CHANGES, None, summary)
        if plan.conflicts:
            raise NimctlError(
                "refusing to take over "
                + ", ".join(f"endpoint {c.name} ({(c.owner or {}).get('description')})" for c in plan.conflicts)
                + ": it is not this state's. Nothing was changed",
                hint="pass --share-existing to use it without owning it (this state then never modifies or "
                "deletes it), or set another deployment.lepton_config.endpoint_name",
            )
        if not approve():
            return _complete(events, Outcome.CANCELLED, None, summary)
        files = config_files or [plan_file or ""]
        applier = Applier(
            ws, journal, stacks, providers, options, files, events, invocation_id=invocation_id, after_jobs=after_jobs
        )
        return applier.run(plan, waits)


def _plan_counts(plan: Any) -> dict[str, Any]:
    counts = plan.summary
    return {k: counts[k] for k in ("add", "change", "replace", "destroy", "run")}


def _complete(events: Events, outcome: Outcome, invocation_id: str | None, summary: dict[str, Any]) -> int:
    events.emit(ApplyComplete(outcome, outcome.exit_code, invocation_id, summary))
    return outcome.exit_code


def _move_lifetimes(
    ws: Workspace, journal: Journal, stacks: list[Stack], providers: dict[str, Provider], plan: Any, events: Events
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
            state=ws.store.locator,
            stack=desired.stack,
            invocation=record.invocation_id or "",
            endpoint=desired.name,
        )
        moved = sync_lifetime(journal, providers[desired.platform], desired, marker)
        if moved:
            events.emit(Note(desired.address, moved))


def _workspace_preflight(stacks: list[Stack], providers: dict[str, Provider], events: Events) -> None:
    from nimctl.plan.preflight import check_workspace

    for warning in check_workspace(stacks, providers.get("lepton"), applying=True):  # type: ignore[arg-type]
        events.emit(WarningMessage(warning))


def failure_report_dir(location: str) -> Path:
    """Where failure reports are kept: beside a state file, else (a database) the working directory."""
    from nimctl.state.backend import is_url

    return Path.cwd() if is_url(location) else Path(location).resolve().parent


def _platforms(stacks: list[Stack], state: State, prune: bool = False) -> set[str]:
    """The platforms this apply reads: its stacks', its stacks' records' (or every record's with
    --prune) and the journal's. Other stacks' platforms are not touched (nor their credentials needed)."""
    names = {s.name for s in stacks}
    platforms = {s.platform for s in stacks}
    platforms |= {r.provider for r in state.resources.values() if prune or r.stack in names}
    platforms |= {p.provider for p in state.pending}
    return platforms


def _plan(
    stacks: list[Stack],
    state: State,
    providers: dict[str, Provider],
    options: ApplyOptions,
    plan_file: str | None,
) -> tuple[Any, Any]:
    from nimctl.plan.actions import make_plan, scope_of
    from nimctl.plan.refresh import refresh

    observed = refresh(
        state,
        providers,
        stacks=scope_of(stacks, prune=options.prune),
        desired_endpoints=[s.endpoint for s in stacks if s.endpoint],
    )
    plan = make_plan(
        stacks,
        state,
        observed,
        targets=options.targets,
        salt=state.lineage,
        replace=options.replace,
        prune=options.prune,
        share_existing=options.share_existing,
    )
    if plan_file:
        from nimctl.plan.planfile import check_plan_fresh

        check_plan_fresh(plan_file, plan, state, observed)
    return plan, observed


def _cost(plan: Any, stacks: list[Stack], options: ApplyOptions) -> Any:
    """The plan's cost block (shown with it), with the gap warnings --no-wait adds."""
    from nimctl.config.prices import load_prices
    from nimctl.plan.cost import estimate

    return estimate(plan, stacks, load_prices(), no_wait=not options.wait)


def _running_jobs_to_wait(stacks: list[Stack], state: State, plan: Any) -> list[str]:
    """Jobs a previous --no-wait run left running with the same inputs: apply waits on them."""
    running_changes = {c.address for c in plan.changes if c.action is Action.NOOP and c.type == "job"}
    waits = []
    for address in sorted(running_changes):
        record = state.resources.get(address)
        if record and not JobState(record.observed.get("state", "unknown")).terminal:
            waits.append(address)
    return waits


class Applier:
    def __init__(
        self,
        ws: Workspace,
        journal: Journal,
        stacks: list[Stack],
        providers: dict[str, Provider],
        options: ApplyOptions,
        config_files: list[str],
        events: Events,
        *,
        invocation_id: str | None = None,
        after_jobs: AfterJobs | None = None,
    ) -> None:
        self.ws = ws
        self.events = events
        self.after_jobs = after_jobs
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
            id=invocation_id or new_invocation_id(),
            command="apply",
            config_files=[str(f) for f in config_files],
            stacks={s.name: s.snapshot() for s in stacks},
        )
        self._cancel = threading.Event()
        self._interrupts = 0
        self._counts: dict[str, Any] = {}

    # -- the run ---------------------------------------------------------------------------
    def run(self, plan: Any, waits: list[str]) -> int:
        self._counts = _plan_counts(plan)
        self.events.emit(InvocationStarted(self.invocation.id))
        # Handlers first: a Ctrl-C or SIGTERM right after the invocation is recorded must still
        # end as an interrupted invocation (exit 130), not as one left 'running' forever.
        previous = self._install_signal_handlers()
        try:
            self.journal.start_invocation(self.invocation)
            outcome = self._execute(plan, waits)
        except (KeyboardInterrupt, Interrupted):
            outcome = self._fail(Outcome.INTERRUPTED, "interrupted by the user")
        except StateWriteError as err:
            outcome = self._state_unwritable(err)
        except Transient as err:
            outcome = self._platform_unreachable(err)
        except NimctlError as err:
            self.events.emit(ErrorMessage(err.message, err.hint))
            self._keep_failure_report(err)  # before the cleanup deletes what it describes
            outcome = self._fail(Outcome.FAILED, err.message)
        finally:
            self._restore_signal_handlers(previous)
        return _complete(self.events, outcome, self.invocation.id, self._counts)

    def _keep_failure_report(self, err: NimctlError) -> None:
        """What the platform said about a failed endpoint, in a file beside the state (0600)."""
        report = getattr(err, "report", "")
        if not report:
            return
        name = getattr(err, "endpoint", "") or "endpoint"
        path = failure_report_dir(self.ws.store.location) / f"failure-{self.invocation.id}-{name}.log"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(report)
        except OSError as exc:
            self.events.emit(WarningMessage(f"could not keep the failure report in {path}: {exc.strerror or exc}"))
            return
        self.events.emit(ErrorMessage(f"The platform's events, readiness issues and log lines are kept in {path}"))

    def _execute(self, plan: Any, waits: list[str]) -> Outcome:
        def changes(kind: str, *actions: Action) -> list[Any]:
            return sorted((c for c in plan.changes if c.type == kind and c.action in actions), key=lambda c: c.address)

        delete, create, update, replace = Action.DELETE, Action.CREATE, Action.UPDATE, Action.REPLACE
        for change in changes("job", delete):
            self._delete_job_record(change.address)
        for change in changes("endpoint", delete, replace):
            self._delete_endpoint_record(change.address)

        for change in changes("endpoint", Action.SHARE):
            self._record_shared(change)
        # Creates and updates of different endpoints are independent: up to --parallelism at once.
        writes = [(self._create_endpoint, c.address) for c in changes("endpoint", replace, create)]
        writes += [(self._update_endpoint, c.address) for c in changes("endpoint", update)]
        calls: list[Callable[[], None]] = [partial(f, self.endpoints[a]) for f, a in writes]
        self._in_parallel(calls, "endpoint")
        touched = [c.address for c in changes("endpoint", Action.SHARE)] + [a for _, a in writes]

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
            self.journal.finish_invocation(self.invocation.id, InvocationStatus.SUCCEEDED)
            self.events.emit(JobsSubmitted(self.invocation.id, submitted))
            self._report_endpoints_kept()
            return Outcome.SUBMITTED
        finished = self._wait_jobs(submitted + waits)
        self._collect_results(finished)
        failed = [a for a, info in finished.items() if info.state != JobState.SUCCEEDED]
        self._counts = {**self._counts, "jobs_succeeded": len(finished) - len(failed), "jobs_failed": len(failed)}
        self._report_results(finished)
        destroy_after = self.options.destroy_after or any(s.destroy_after for s in self.stacks)
        deleted = self._destroy_after(submitted + waits) if destroy_after else []
        if failed:
            self.journal.finish_invocation(
                self.invocation.id, InvocationStatus.FAILED, f"{len(failed)} evaluation job(s) did not succeed"
            )
            kept = [address for address, _ in self._kept_endpoints()]
            self.events.emit(JobsFailed(sorted(failed), endpoints_kept=kept, endpoints_deleted=deleted))
            self._run_after_jobs()
            self._report_endpoints_kept()
            return Outcome.FAILED
        self.journal.finish_invocation(self.invocation.id, InvocationStatus.SUCCEEDED)
        self._run_after_jobs()
        self._report_endpoints_kept()  # what --destroy-after removed is no longer in the state
        return Outcome.SUCCEEDED

    def _run_after_jobs(self) -> None:
        """The after-jobs hook (auto-export): its failure, even a Ctrl-C, never changes the
        outcome of an evaluation that has finished and is recorded."""
        if self.after_jobs is None:
            return
        try:
            self.after_jobs(self.invocation.id, self.state, self.events)
        except (KeyboardInterrupt, Exception) as err:  # noqa: BLE001 - see the docstring
            what = "interrupted" if isinstance(err, KeyboardInterrupt) else f"failed: {err}"
            self.events.emit(
                WarningMessage(
                    f"exporting the results {what}; the evaluation is recorded as it finished. "
                    f"To export: nimctl export {self.invocation.id} --dest DEST"
                )
            )

    def _in_parallel(self, calls: list[Callable[[], None]], kind: str) -> None:
        """Run ``calls`` on up to ``--parallelism`` threads (each journals its own steps; the
        journal serialises and group-commits them). Calls not started when the run is cancelled
        (Ctrl-C, SIGTERM) are skipped; those in flight finish and are recorded. Platform errors are
        raised once every started call has returned (one as it is, several together); any other
        error as it is."""
        if len(calls) <= 1 or self.options.parallelism <= 1:
            for call in calls:
                call()
            return

        def guarded(call: Callable[[], None]) -> None:
            if not self._cancel.is_set():
                call()

        with ThreadPoolExecutor(max_workers=self.options.parallelism, thread_name_prefix=kind) as pool:
            futures: set[Future] = {pool.submit(guarded, call) for call in calls}
            done: set[Future] = set()
            try:
                while futures:
                    finished, futures = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
                    done |= finished
            except BaseException:
                self._cancel.set()
                raise
        failures: list[BaseException] = [e for e in (f.exception() for f in done) if e is not None]
        unexpected = [e for e in failures if not isinstance(e, ProviderError)]
        if unexpected:
            raise unexpected[0]
        if len(failures) == 1:
            raise failures[0]
        if failures:
            raise NimctlError(
                f"{len(failures)} {kind} operations failed:\n  " + "\n  ".join(str(e) for e in failures),
                hint="fix the cause and run `nimctl apply` again",
            )

    # -- endpoints -------------------------------------------------------------------------
    def _create_endpoint(self, desired: DesiredEndpoint) -> None:
        provider = self.providers[desired.platform]
        redacted = redact_spec(desired.spec, self.salt)
        self.events.emit(ResourceStep(desired.address, Step.CREATING, desired.name, desired.platform))

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
            op=Op.CREATE,
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
        in_scope = [c.address for c in plan.changes if c.type == "endpoint" and c.action is not Action.DELETE]
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
                self.events.emit(Note(address, moved))

    def _marker(self, stack: str, *, endpoint: str = "") -> ownership.Marker:
        return ownership.Marker.new(
            lineage=self.state.lineage,
            state=self.ws.store.locator,
            stack=stack,
            invocation=self.invocation.id,
            endpoint=endpoint,
        )

    def _update_endpoint(self, desired: DesiredEndpoint) -> None:
        provider = self.providers[desired.platform]
        redacted = redact_spec(desired.spec, self.salt)
        self.events.emit(ResourceStep(desired.address, Step.UPDATING, desired.name, desired.platform))

        def record(state: State, info: EndpointInfo) -> None:
            self._record_endpoint(state, desired, info, created=False)

        self.journal.step(
            lambda: provider.update_endpoint(desired.name, desired.spec),
            record=record,
            op=Op.UPDATE,
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

    def _record_shared(self, change: Any) -> None:
        """Record a live endpoint that is not this state's as shared: no platform call, and this
        state's destroy, cleanup and replacement only ever forget it."""
        desired = self.endpoints[change.address]
        owner = (change.owner or {}).get("marker") or {}
        self.events.emit(
            Note(
                desired.address,
                f"{desired.address}: using {desired.name} as shared ({(change.owner or {}).get('description')})",
            )
        )

        def record(state: State) -> None:
            from nimctl.providers.base import ResourceState
            from nimctl.state.records import record_endpoint

            url = (change.after or {}).get("url")
            info = EndpointInfo(desired.name, ResourceState.PENDING, "shared", url, {})
            entry = record_endpoint(state, desired, info, invocation_id=self.invocation.id, salt=self.salt)
            entry.extra.update(shared=True, owner=owner)

        self.journal.mutate(record)

    def _note_created(self, state: State, address: str) -> None:
        inv = state.invocations[self.invocation.id]
        if address not in inv.created:
            inv.created.append(address)

    def _delete_endpoint_record(self, address: str) -> None:
        record = self.state.resources.get(address)
        if record is None:
            return
        if record.is_shared:
            self.events.emit(
                Note(address, f"{address}: forgetting the shared endpoint {record.name} (it stays: it is its owner's)")
            )

            def release(state: State) -> None:
                forget(state, address, name=record.name)

            self.journal.mutate(release)
            return
        provider = self.providers[record.provider]
        self.events.emit(ResourceStep(address, Step.DELETING, record.name, record.provider))
        remove_endpoint(self.journal, provider, address, record.name, self.invocation.id)

    def _wait_ready(self, addresses: list[str]) -> dict[str, str]:
        waiting = {
            a: (self.endpoints[a], self.providers[self.endpoints[a].platform]) for a in addresses if a in self.endpoints
        }
        started = time.monotonic()

        def on_update(address: str, text: str, info: EndpointInfo | None) -> None:
            self.events.emit(
                Progress(
                    Phase.ENDPOINTS_READY,
                    address,
                    text,
                    round(time.monotonic() - started, 3),
                    state=info.state.value if info else None,
                    ready_replicas=info.ready_replicas if info else None,
                )
            )

        self.events.emit(WaitStart(Phase.ENDPOINTS_READY, sorted(waiting)))
        try:
            ready = wait_endpoints_ready(waiting, on_update)
        finally:
            self.events.emit(WaitEnd(Phase.ENDPOINTS_READY))
        checkpoint("endpoints:ready")

        def record(state: State) -> None:
            for address, info in ready.items():
                if address in state.resources:
                    state.resources[address].observed = observed_endpoint(info)

        self.journal.mutate(record, touches=ready)
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
                extra = state.resources[job.address].extra
                extra["results_dir"] = results_dir(spec)
                extra["time_limit_s"] = job.time_limit_s
                if job.results_storage:
                    extra["storage"] = job.results_storage.replace(INVOCATION_MARKER, self.invocation.id)
                self._note_created(state, job.address)
                state.resources[job.address].extra["owner"] = marker.to_dict()

            try:
                self.journal.step(
                    lambda: provider.submit_job(name, sent),
                    record=record,
                    keep_on=(Transient,),
                    op=Op.SUBMIT,
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
            self.events.emit(ResourceStep(job.address, Step.SUBMITTED, name, job.platform))

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
        outage_since: float | None = None
        self.events.emit(WaitStart(Phase.JOBS_FINISHED, sorted(pending)))
        try:
            while pending:
                by_provider: dict[Provider, set[str]] = {}
                for record in pending.values():
                    by_provider.setdefault(self.providers[record.provider], set()).add(record.platform_id or "")
                try:
                    live = poll_jobs(by_provider)
                except Transient as err:
                    # Not a verdict on the jobs: read again, until the platform has been silent
                    # for longer than NIMCTL_UNREACHABLE_TIMEOUT.
                    outage_since = outage_since or time.monotonic()
                    if time.monotonic() - outage_since > unreachable_timeout_s():
                        raise
                    for address, record in pending.items():
                        self.events.emit(
                            Progress(
                                Phase.JOBS_FINISHED,
                                address,
                                f"{record.name}: platform not answering ({err.message}); reading again",
                                round(time.monotonic() - started, 3),
                            )
                        )
                    poller.sleep()
                    continue
                outage_since = None
                updates: dict[str, JobInfo | None] = {}
                for address, record in list(pending.items()):
                    info = live.get(record.platform_id or "")
                    updates[address] = info
                    state_word = info.platform_state if info else "gone"
                    self.events.emit(
                        Progress(
                            Phase.JOBS_FINISHED,
                            address,
                            f"{record.name}: {state_word}",
                            round(time.monotonic() - started, 3),
                            state=info.state.value if info else JobState.GONE.value,
                        )
                    )
                    if info is None or info.state.terminal:
                        finished[address] = info or _gone_job(record)
                        del pending[address]
                # A round where no job changed state writes nothing: during an hours-long
                # evaluation the whole state would otherwise be rewritten at every poll.
                changed = {a: i for a, i in updates.items() if self._observation_changed(a, i)}
                if changed:
                    self.journal.mutate(partial(self._record_job_observations, updates=changed), touches=changed)
                if pending:
                    poller.sleep()
        finally:
            self.events.emit(WaitEnd(Phase.JOBS_FINISHED))
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

    def _collect_results(self, finished: dict[str, JobInfo]) -> None:
        """Read each finished job's result files back (local: its output directory; Lepton: its
        log) into the cache beside the state, and note a job its time limit stopped."""
        from nimctl.results import store as results_store

        root = results_store.cache_root(self.ws.state_dir)
        inv = self.state.invocations[self.invocation.id]
        timed_out: list[str] = []
        for address in sorted(finished):
            record = inv.job_results.get(address)
            if not record:
                continue
            platform = str(record.get("platform") or "local")
            provider = self.providers.get(platform) if platform != "local" else None
            reader = provider if isinstance(provider, results_store.ResultLogReader) else None
            try:
                cached = results_store.collect_record(root, self.invocation.id, address, record, reader)
            except (ProviderError, OSError) as err:
                self.events.emit(WarningMessage(f"{address}: its results could not be read back: {err}"))
                continue
            if cached is not None and cached.timed_out and not record.get("timed_out"):
                timed_out.append(address)
            for problem in cached.problems if cached else ():
                self.events.emit(WarningMessage(f"{address}: {problem}"))
        if timed_out:

            def mark(state: State) -> None:
                for address in timed_out:
                    state.invocations[self.invocation.id].job_results[address]["timed_out"] = True

            self.journal.mutate(mark)

    def _report_results(self, finished: dict[str, JobInfo]) -> None:
        """The finished jobs' results as ``nimctl results --json`` shows them (scores included)."""
        from nimctl.results import store as results_store

        root = results_store.cache_root(self.ws.state_dir)
        inv = self.state.invocations[self.invocation.id]
        results = [
            results_store.job_results(root, self.invocation.id, address, inv.job_results.get(address, {})).to_json()
            for address in sorted(finished)
        ]
        if results:
            self.events.emit(JobResults(results))

    def _delete_job_record(self, address: str) -> None:
        record = self.state.resources.get(address)
        if record is None:
            return
        provider = self.providers[record.provider]
        self.events.emit(ResourceStep(address, Step.DELETING_JOB, record.name, record.provider))
        remove_job(self.journal, provider, address, record.name, record.platform_id, self.invocation.id)

    def _destroy_after(self, job_addresses: list[str]) -> list[str]:
        """Remove the endpoints of the stacks whose jobs ran; the addresses of those deleted (a
        shared endpoint is only forgotten: it stays, its owner's)."""
        deleted = []
        stacks = {self.state.resources[a].stack for a in job_addresses if a in self.state.resources}
        for stack in sorted(stacks):
            ep = self.stack_of[stack].endpoint if stack in self.stack_of else None
            if ep is not None and ep.address in self.state.resources:
                record = self.state.resources[ep.address]
                self.events.emit(ResourceStep(ep.address, Step.REMOVING_AFTER_JOBS, record.name, record.provider))
                self._delete_endpoint_record(ep.address)
                if not record.is_shared:
                    deleted.append(ep.address)
        return deleted

    def _kept_endpoints(self) -> list[tuple[str, ResourceRecord]]:
        """This run's endpoints still in the state, by address (not the shared ones: they are not
        this state's to remove)."""
        kept = []
        for address in sorted(self.endpoints):
            record = self.state.resources.get(address)
            if record is not None and not record.is_shared:
                kept.append((address, record))
        return kept

    def _report_endpoints_kept(self) -> None:
        for address, record in self._kept_endpoints():
            url = record.observed.get("url") or ""
            creator = record.invocation_id or self.invocation.id
            self.events.emit(EndpointKept(address, record.name, url, creator))

    # -- failure and interruption ----------------------------------------------------------
    def _install_signal_handlers(self) -> dict[int, Any]:
        previous: dict[int, Any] = {}

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

    def _fail(self, outcome: Outcome, reason: str) -> Outcome:
        """Stop what this invocation started; remove the endpoints it created (the seed's cleanup)."""
        self._cancel.set()
        inv_id = self.invocation.id
        status = InvocationStatus(outcome.value)  # Outcome.FAILED / INTERRUPTED share the words
        if inv_id not in self.state.invocations:
            return outcome  # interrupted before the invocation was recorded: nothing was started
        try:
            if self.options.keep_on_failure:
                self.events.emit(
                    WarningMessage(
                        f"--keep-on-failure: leaving what this run created. To remove it: nimctl destroy {inv_id}"
                    )
                )
            else:
                self.events.emit(CleanupStart(inv_id, status, after_ctrl_c=self._interrupts > 0))
                self._cleanup_created()
            self.journal.finish_invocation(inv_id, status, reason)
        except (KeyboardInterrupt, Interrupted):
            self.events.emit(ErrorMessage(f"Cleanup skipped. What is left is recorded: run `nimctl destroy {inv_id}`."))
            with contextlib.suppress(KeyboardInterrupt, Interrupted, NimctlError):
                self.journal.finish_invocation(inv_id, InvocationStatus.INTERRUPTED, reason)
            return Outcome.INTERRUPTED
        except NimctlError as err:
            self.events.emit(ErrorMessage(f"cleanup failed: {err}. Run `nimctl destroy {inv_id}` to finish it."))
            self.journal.finish_invocation(inv_id, status, reason)
        return outcome

    def _platform_unreachable(self, err: Transient) -> Outcome:
        """The platform kept failing past the run's deadline (after retries). That is no verdict on
        what was created: nothing is deleted that could not be verified. The run ends failed,
        saying what is left and how to continue or remove it."""
        self._cancel.set()
        inv_id = self.invocation.id
        self.events.emit(ErrorMessage(err.message, err.hint))
        if inv_id not in self.state.invocations:
            return Outcome.FAILED
        inv = self.state.invocations[inv_id]
        left = sorted(set(inv.created) | {p.address for p in self.state.pending if p.invocation_id == inv_id})
        what = f"Left as they are (not verified, so not deleted): {', '.join(left)}. " if left else ""
        self.events.emit(
            ErrorMessage(
                f"{what}`nimctl apply` continues once the platform answers; `nimctl destroy {inv_id}` removes "
                "what this run created."
            )
        )
        with contextlib.suppress(NimctlError):
            self.journal.finish_invocation(
                inv_id, InvocationStatus.FAILED, f"the platform did not answer: {err.message}"
            )
        return Outcome.FAILED

    def _state_unwritable(self, err: StateWriteError) -> Outcome:
        """The state stopped taking writes after a side effect. Nothing more is attempted (every
        step must be journaled first); what this run did is recoverable from the journal on disk:
        each call's intent was written before the call."""
        self._cancel.set()
        inv = self.state.invocations.get(self.invocation.id)
        made = sorted(set(inv.created if inv else []) | {p.address for p in self.state.pending})
        self.events.emit(ErrorMessage(err.message, err.hint))
        what = f"This run had created or started: {', '.join(made)}. " if made else ""
        from nimctl.state.backend import is_url

        where = self.ws.store.location
        where = where if is_url(where) else str(Path(where).parent)  # a file state: its directory
        self.events.emit(
            ErrorMessage(
                f"{what}Each step was journaled in the state file before it was taken. Once "
                f"{where} takes writes again, `nimctl apply` continues (it adopts "
                f"what this run created) and `nimctl destroy {self.invocation.id}` removes it."
            )
        )
        return Outcome.FAILED

    def _cleanup_created(self) -> None:
        # Steps whose outcome is unknown (a lost response) are settled first: whatever they created
        # is adopted into the invocation, so it is cleaned up like the rest.
        settle_pending(self.journal, self.providers)
        from nimctl.apply.destroy import foreign_users

        inv = self.state.invocations[self.invocation.id]
        jobs = [a for a in inv.created if a.startswith("job.")]
        endpoints = [a for a in inv.created if a.startswith("endpoint.")]
        # An endpoint this run created that another state's jobs already use stays (destroy
        # --force removes it); so does one whose users could not be read.
        try:
            others = foreign_users(self.state, endpoints, self.providers)
        except ProviderError as err:
            others = {a: [f"its users could not be read ({err.message})"] for a in endpoints}
        for address, users in others.items():
            self.events.emit(
                WarningMessage(
                    f"{address} is kept: " + "; ".join(users) + f". `nimctl destroy --force {self.invocation.id}`"
                )
            )
        endpoints = [a for a in endpoints if a not in others]
        # Jobs are stopped, not deleted, so their logs stay readable; `destroy` removes them.
        destroy_addresses(
            self.journal, self.providers, jobs + endpoints, self.invocation.id, events=self.events, stop_only_jobs=True
        )


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


def results_dir(spec: dict[str, Any]) -> str | None:
    if spec.get("output_dir"):
        return str(spec["output_dir"])
    for env in spec.get("envs") or []:
        if env.get("name") == job_vars.OUTPUT_DIR:
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
        "platform": record.provider,
        "job_id": record.platform_id,
        "time_limit_s": record.extra.get("time_limit_s"),
        "storage": record.extra.get("storage"),
    }
    summary = read_results_summary(result["results_dir"])
    if summary:
        result["summary"] = summary
    return result


def read_results_summary(directory: str | None) -> str:
    """One line from a results.json nimctl's built-in tasks (or any task) wrote, if readable."""
    if not directory:
        return ""
    path = Path(directory) / BUILTIN_RESULTS_FILE
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


def _gone_job(record: Any) -> JobInfo:
    return JobInfo(id=record.platform_id or "", name=record.name, state=JobState.GONE, platform_state="gone", spec={})
