"""What the apply and destroy engines report, and the one small interface they report through.

The engines (``applier``, ``destroy``, ``removal``) never print and never ask: everything a user
may want to see is an *event* — one frozen dataclass below — handed to ``Events.emit``, and the
one question (“perform these actions?”) is a callable the shell passes in (``Approve``). The shell
renders the events: ``nimctl.cli.views`` holds the human view (the text nimctl has always
printed) and the JSON view (one object per line, each with a ``type``, like
``terraform apply -json``). This is the split Terraform makes between its core's ``Hook`` and
``command/views``.

Adding an event kind:

1. define a frozen dataclass here deriving from ``Event``, with ``type: ClassVar[str]`` set to
   the name it has in the JSON stream and typed fields holding plain data (str, int, float, bool,
   None, and lists/dicts of those) — the JSON view serialises every field as is; override
   ``payload()`` only when a field is not plain data (see ``PlanReady``);
2. emit it from the engine: ``self.events.emit(MyEvent(...))``;
3. give ``cli.views.HumanView`` an ``on_<type>`` method if people should see it (an event
   without one is shown to JSON readers only).

Order of a JSON apply stream: ``run_start`` (carries the invocation id) → ``state`` → ``warning``s →
``plan`` → ``invocation_started`` → ``resource_step`` / ``wait_start`` / ``progress`` /
``wait_end`` … → ``job_results`` → ``export`` (one per auto_export destination) →
``endpoint_kept`` → ``apply_complete`` (summary and exit code). Destroy: ``run_start`` → ``destroy_plan`` → ``resource_step``… → ``destroy_complete``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, ClassVar, Protocol, TypeVar

E = TypeVar("E", bound="Event")


class Events(Protocol):
    """Where an engine reports. Implementations must accept calls from several threads."""

    def emit(self, event: Event) -> None: ...


Approve = Callable[[], bool]
"""Asked once, after the plan is shown and before the first side effect: True proceeds."""


class NoEvents:
    """Discards everything: for callers that only want the engine's effects (tests, benchmarks)."""

    def emit(self, event: Event) -> None:
        pass


class CollectEvents:
    """Keeps every event in order: for tests that check what the engine reported."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]


@dataclass(frozen=True)
class Event:
    type: ClassVar[str] = "event"

    def payload(self) -> dict[str, Any]:
        """The event's fields as plain data (the JSON view adds ``type``)."""
        return {k: v.value if isinstance(v, Enum) else v for k, v in asdict(self).items()}


# -- run framing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunStart(Event):
    """First event of every apply/destroy. ``invocation_id``: the id apply records if it changes
    anything; for destroy, the invocation being destroyed (None with -f or --all)."""

    type: ClassVar[str] = "run_start"
    command: str
    invocation_id: str | None
    nimctl_version: str


@dataclass(frozen=True)
class StateRead(Event):
    """Which state the run read (the human view's "State: ..." banner)."""

    type: ClassVar[str] = "state"
    locator: str
    exists: bool
    lineage: str
    serial: int


@dataclass(frozen=True)
class Note(Event):
    """A line of information about one resource that needs no structure of its own (e.g. where
    an endpoint's max_lifetime deadline moved)."""

    type: ClassVar[str] = "note"
    address: str
    message: str


@dataclass(frozen=True)
class WarningMessage(Event):
    type: ClassVar[str] = "warning"
    message: str


@dataclass(frozen=True)
class ErrorMessage(Event):
    """A failure the run reports before it ends (the run's outcome follows in ``*_complete``)."""

    type: ClassVar[str] = "error"
    message: str
    hint: str | None = None


@dataclass(frozen=True)
class PlanReady(Event):
    """The plan apply is about to perform (shown before the confirmation)."""

    type: ClassVar[str] = "plan"
    plan: Any  # nimctl.plan.actions.Plan

    def payload(self) -> dict[str, Any]:
        from nimctl.plan.render import render_json

        return {"plan": render_json(self.plan)}


@dataclass(frozen=True)
class InvocationStarted(Event):
    """The invocation is recorded in the state: from here on, everything it creates is its own."""

    type: ClassVar[str] = "invocation_started"
    invocation_id: str


# -- per resource ----------------------------------------------------------------------------------


class Step(str, Enum):
    """What the engine is doing to one resource."""

    CREATING = "creating"  # endpoint create requested
    UPDATING = "updating"  # endpoint updated in place
    DELETING = "deleting"  # endpoint delete (also the first half of a replacement)
    DELETING_JOB = "deleting_job"  # a previous job run removed before its re-run, or a removed task
    SUBMITTED = "submitted"  # job accepted by the platform
    REMOVING_AFTER_JOBS = "removing_after_jobs"  # --destroy-after: every job finished
    DESTROYED = "destroyed"  # removed (destroy or cleanup) and forgotten


@dataclass(frozen=True)
class ResourceStep(Event):
    type: ClassVar[str] = "resource_step"
    address: str
    step: Step
    name: str
    platform: str = ""


class Phase(str, Enum):
    """What a wait is for."""

    ENDPOINTS_READY = "endpoints_ready"
    JOBS_FINISHED = "jobs_finished"


@dataclass(frozen=True)
class WaitStart(Event):
    type: ClassVar[str] = "wait_start"
    phase: Phase
    addresses: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Progress(Event):
    """A resource's status while waiting. ``status`` is the text a person reads (``Starting``,
    ``eval-…: Running``); ``state`` is the normalised word when there is one."""

    type: ClassVar[str] = "progress"
    phase: Phase
    address: str
    status: str
    elapsed_s: float
    state: str | None = None
    ready_replicas: int | None = None


@dataclass(frozen=True)
class WaitEnd(Event):
    type: ClassVar[str] = "wait_end"
    phase: Phase


# -- results and outcome ---------------------------------------------------------------------------


@dataclass(frozen=True)
class JobResults(Event):
    """The finished jobs' results, one dict per job as recorded in the invocation (``address``,
    ``state``, ``started_at``, ``finished_at``, ``summary``, ``results_dir``, …)."""

    type: ClassVar[str] = "job_results"
    results: list[dict[str, Any]]


@dataclass(frozen=True)
class JobsFailed(Event):
    """Jobs that did not succeed, and what became of this run's endpoints: still running
    (``endpoints_kept``) or removed by ``--destroy-after`` (``endpoints_deleted``)."""

    type: ClassVar[str] = "jobs_failed"
    addresses: list[str]
    endpoints_kept: list[str] = field(default_factory=list)
    endpoints_deleted: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExportFinished(Event):
    """An automatic export (``execution.auto_export``) after the jobs finished. ``ok`` False never
    changes the apply's outcome; ``retry`` is the command that exports again."""

    type: ClassVar[str] = "export"
    destination: str
    invocation_id: str
    ok: bool
    counts: dict[str, int]  # created / updated / skipped / failed
    failures: list[dict[str, str]]  # {address, detail}
    notes: list[str]
    error: str | None
    retry: str


@dataclass(frozen=True)
class JobsSubmitted(Event):
    """--no-wait: the jobs are running; apply returns."""

    type: ClassVar[str] = "jobs_submitted"
    invocation_id: str
    addresses: list[str]


@dataclass(frozen=True)
class EndpointKept(Event):
    """An endpoint stays up after apply; ``destroy_invocation`` is the id that removes it."""

    type: ClassVar[str] = "endpoint_kept"
    address: str
    name: str
    url: str
    destroy_invocation: str


@dataclass(frozen=True)
class CleanupStart(Event):
    """A failed or interrupted apply removes what it created (skipped with --keep-on-failure)."""

    type: ClassVar[str] = "cleanup_start"
    invocation_id: str
    status: str
    after_ctrl_c: bool = False  # "Ctrl-C again to skip" is offered only to someone who pressed it


class Outcome(str, Enum):
    """How an apply or destroy ended, and the exit code that says so."""

    SUCCEEDED = "succeeded"
    NO_CHANGES = "no_changes"
    SUBMITTED = "submitted"  # --no-wait: jobs still running
    NOTHING_TO_DESTROY = "nothing_to_destroy"
    CANCELLED = "cancelled"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def exit_code(self) -> int:
        return {Outcome.FAILED: 1, Outcome.CANCELLED: 1, Outcome.INTERRUPTED: 130}.get(self, 0)


@dataclass(frozen=True)
class ApplyComplete(Event):
    """Last event of an apply. ``summary``: the plan's counts (add, change, replace, destroy, run)
    and, once jobs ran, how many succeeded and failed."""

    type: ClassVar[str] = "apply_complete"
    outcome: Outcome
    exit_code: int
    invocation_id: str | None
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DestroyPlanned(Event):
    """What destroy will remove: one dict per resource (address, type, name, provider, live)."""

    type: ClassVar[str] = "destroy_plan"
    resources: list[dict[str, str]]


@dataclass(frozen=True)
class DestroyComplete(Event):
    type: ClassVar[str] = "destroy_complete"
    outcome: Outcome
    exit_code: int
    invocation_id: str | None
    removed: list[str] = field(default_factory=list)
    # Nothing to destroy, yet the platforms hold objects nimctl made that this state does not
    # record: {"count", "orphans", "platforms"} (``nimctl.apply.gc.untracked``); None otherwise.
    untracked: dict[str, Any] | None = None
