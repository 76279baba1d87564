"""What an export did, task by task: the data the CLI renders and auto-export summarises."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Outcome(enum.Enum):
    CREATED = "created"  # a new run / entry
    UPDATED = "updated"  # the run / entry of an earlier export of the same job, updated in place
    SKIPPED = "skipped"  # skip_existing, or nothing to export (no scores)
    FAILED = "failed"

    @property
    def failed(self) -> bool:
        return self is Outcome.FAILED


@dataclass(frozen=True)
class TaskOutcome:
    job_id: str  # <invocation>.<stack>.<task>
    address: str
    outcome: Outcome
    where: str = ""  # run id / URL / file
    detail: str = ""  # why skipped or failed; what an update kept


@dataclass
class ExportReport:
    destination: str
    outcomes: list[TaskOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # settings accepted but not acted on, duplicates found
    files: list[str] = field(default_factory=list)  # summary files written (local)

    @property
    def failed(self) -> list[TaskOutcome]:
        return [o for o in self.outcomes if o.outcome.failed]

    @property
    def ok(self) -> bool:
        return not self.failed
