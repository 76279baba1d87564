"""How the apply and destroy events (``nimctl.apply.events``) are shown.

``HumanView`` prints the text nimctl has always printed: messages on stdout, warnings and errors
on stderr, live progress on a terminal. ``JsonView`` prints one JSON object per line on stdout,
each with a ``type`` and an ``@timestamp``, like ``terraform apply -json``; it is what
``apply --json`` and ``destroy --json`` use. Both take events from several threads.

A new event kind needs nothing here to reach JSON readers; to be seen by people it needs an
``on_<type>`` method on ``HumanView``. The apply results table is built in ``results_table``
(its columns read the result dicts of ``JobResults``), so columns are added in one place.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

from nimctl.apply.events import (
    ApplyComplete,
    CleanupStart,
    DestroyComplete,
    DestroyPlanned,
    EndpointKept,
    ErrorMessage,
    Event,
    ExportFinished,
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
from nimctl.cli.ui import UI, elapsed
from nimctl.cli.ui import Progress as LiveLines

STEP_TEXT: dict[Step, str] = {
    Step.CREATING: "{address}: creating {name} on {platform}",
    Step.UPDATING: "{address}: updating {name} in place",
    Step.DELETING: "{address}: deleting {name}",
    Step.DELETING_JOB: "{address}: deleting job {name}",
    Step.SUBMITTED: "{address}: submitted as {name}",
    Step.REMOVING_AFTER_JOBS: "{address}: every job has finished; removing it (--destroy-after)",
    Step.DESTROYED: "{address}: destroyed",
}


def results_table(results: list[dict[str, Any]]) -> list[str]:
    """The apply results table (task, state, duration, scores; at most 100 columns), from the
    result dicts of ``JobResults`` (``nimctl results --json``'s items)."""
    from nimctl.cli.results_view import table_lines

    return table_lines(results)


class HumanView:
    """Events as the text a person reads."""

    def __init__(self, ui: UI) -> None:
        self.ui = ui
        self._live: LiveLines | None = None

    def emit(self, event: Event) -> None:
        handler = getattr(self, f"on_{event.type}", None)
        if handler is not None:
            handler(event)

    def warn(self, text: str) -> None:
        self.ui.warn(text)

    def on_state(self, event: StateRead) -> None:
        from nimctl.cli.context import banner

        self.ui.print(banner(event.locator, event.exists, event.lineage, event.serial))

    def on_note(self, event: Note) -> None:
        self.ui.print(event.message)

    def on_warning(self, event: WarningMessage) -> None:
        self.ui.warn(event.message)

    def on_error(self, event: ErrorMessage) -> None:
        self.ui.error(event.message if not event.hint else f"{event.message}\n  hint: {event.hint}")

    def on_plan(self, event: PlanReady) -> None:
        from nimctl.plan.render import render_text

        self.ui.print(render_text(event.plan, color=self.ui.color))

    def on_invocation_started(self, event: InvocationStarted) -> None:
        self.ui.print(f"Invocation: {event.invocation_id}")

    def on_resource_step(self, event: ResourceStep) -> None:
        self.ui.print(STEP_TEXT[event.step].format(address=event.address, name=event.name, platform=event.platform))

    def on_wait_start(self, event: WaitStart) -> None:
        self._live = self.ui.progress().__enter__()

    def on_progress(self, event: Progress) -> None:
        if self._live is None:
            return
        text = event.status
        if event.phase is Phase.ENDPOINTS_READY and event.ready_replicas:
            text += f", {event.ready_replicas} replica(s) ready"
        self._live.update(event.address, text, live_suffix=f" [{elapsed(event.elapsed_s)}]")

    def on_wait_end(self, event: WaitEnd) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def on_job_results(self, event: JobResults) -> None:
        lines = results_table(event.results)
        if lines:
            self.ui.print("")
            self.ui.print("\n".join(lines))

    def on_jobs_failed(self, event: JobsFailed) -> None:
        self.ui.error(
            f"{len(event.addresses)} job(s) did not succeed: {', '.join(event.addresses)}. "
            + _endpoints_after_failed_jobs(event.endpoints_kept, event.endpoints_deleted)
        )

    def on_export(self, event: ExportFinished) -> None:
        counts = ", ".join(f"{n} {k}" for k, n in event.counts.items() if n) or "nothing to export"
        for note in event.notes:
            self.ui.warn(f"export to {event.destination}: {note}")
        if event.ok:
            self.ui.print(f"Exported to {event.destination}: {counts}. Again (updates the same runs): {event.retry}")
            return
        lines = [f"Export to {event.destination} failed (the evaluation is not affected): {event.error or counts}"]
        lines += [f"  {f['address']}: {f['detail']}" for f in event.failures]
        lines.append(f"  To retry: {event.retry}")
        self.ui.warn("\n".join(lines))

    def on_jobs_submitted(self, event: JobsSubmitted) -> None:
        self.ui.print(
            f"Submitted {len(event.addresses)} job(s); `nimctl status {event.invocation_id}` "
            "shows their progress and the next `nimctl apply` picks up their results."
        )

    def on_endpoint_kept(self, event: EndpointKept) -> None:
        at = f" at {event.url}" if event.url else ""
        self.ui.print(
            f"Endpoint {event.name} is still running{at}. To remove it: nimctl destroy {event.destroy_invocation}"
        )

    def on_cleanup_start(self, event: CleanupStart) -> None:
        skip = "Ctrl-C again to skip; " if event.after_ctrl_c else ""
        self.ui.print(
            f"Cleaning up after the {event.status} run ({skip}`nimctl destroy {event.invocation_id}` finishes it later)..."
        )

    def on_apply_complete(self, event: ApplyComplete) -> None:
        if event.outcome is Outcome.SUCCEEDED:
            self.ui.success("Apply complete.")
        elif event.outcome is Outcome.CANCELLED:
            self.ui.print("Apply cancelled.")

    def on_destroy_plan(self, event: DestroyPlanned) -> None:
        self.ui.print("nimctl will destroy:")
        for r in event.resources:
            self.ui.print(f"  - {r['address']}  ({r['type']} {r['name']} on {r['provider']}, now {r['live']})")
        self.ui.print(f"\nPlan: 0 to add, 0 to change, 0 to replace, {len(event.resources)} to destroy.")

    def on_destroy_complete(self, event: DestroyComplete) -> None:
        if event.outcome is Outcome.NOTHING_TO_DESTROY:
            self.ui.print("Nothing to destroy.")
            if event.untracked:
                from nimctl.cli.context import untracked_text

                self.ui.print(untracked_text(event.untracked))
        elif event.outcome is Outcome.CANCELLED:
            self.ui.print("Destroy cancelled.")
        elif event.outcome is Outcome.SUCCEEDED:
            self.ui.success(f"Destroy complete: {len(event.removed)} resource(s) removed.")


class JsonView:
    """Events as JSON lines; the first line is always ``run_start`` (config warnings found before
    the run started are held until it has). A progress event that repeats the last status of its
    resource is dropped, so a long wait prints a line per change, not per poll."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._lock = threading.Lock()
        self._last_status: dict[str, str] = {}
        self._held: list[Event] | None = []  # None once run_start is written

    @property
    def started(self) -> bool:
        return self._held is None

    def emit(self, event: Event) -> None:
        if isinstance(event, Progress):
            if self._last_status.get(event.address) == event.status:
                return
            self._last_status[event.address] = event.status
        if self._held is not None:
            if not isinstance(event, RunStart):
                self._held.append(event)
                return
            held, self._held = self._held, None
            self._write(event)
            for earlier in held:
                self._write(earlier)
            return
        self._write(event)

    def _write(self, event: Event) -> None:
        line = {"type": event.type, "@timestamp": _timestamp(), **event.payload()}
        text = json.dumps(line, default=str, ensure_ascii=False)
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def warn(self, text: str) -> None:
        self.emit(WarningMessage(text))


def _timestamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"


def _endpoints_after_failed_jobs(kept: list[str], deleted: list[str]) -> str:
    """What became of the run's endpoints, and what the next apply does about the failed jobs."""
    rerun = "re-runs only these."
    if kept and deleted:
        return (
            f"Kept: {', '.join(kept)}; deleted (--destroy-after): {', '.join(deleted)}. "
            f"The next `nimctl apply` starts the deleted again and {rerun}"
        )
    if kept:
        return f"{'The endpoint is' if len(kept) == 1 else 'The endpoints are'} kept; the next `nimctl apply` {rerun}"
    if deleted:
        one = len(deleted) == 1
        return (
            f"{'The endpoint was' if one else 'The endpoints were'} deleted (--destroy-after); "
            f"the next `nimctl apply` starts {'it' if one else 'them'} again and {rerun}"
        )
    return f"The next `nimctl apply` {rerun}"  # no endpoint of this run's own: an external target, or a shared one
