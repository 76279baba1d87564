"""Runs side by side: tasks as rows, runs as columns, every score with its difference to the
first column.

Takes :class:`~nimctl.export.model.InvocationRuns` (several invocations, or one whose stacks are
the runs to compare: one config per model applied together); gives a :class:`Comparison`, plain
data with a JSON form (``nimctl results ID1 ID2 --json``) that the CLI renders as a table.

A column is one stack of one invocation. Its label is the invocation id (short) when every
invocation has one stack, the stack name when one invocation is compared, else both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nimctl.export.model import InvocationRuns, TaskRun


@dataclass(frozen=True)
class Column:
    invocation_id: str
    stack: str
    label: str
    model_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"invocation": self.invocation_id, "stack": self.stack, "label": self.label, "model_id": self.model_id}


@dataclass(frozen=True)
class Row:
    task: str  # the task as the configs name it
    metric: str  # "<metric>" or "<metric>.<score>", prefixed by the harness's task key when a job has several
    values: tuple[float | None, ...]  # one per column; None: no such score in that run
    states: tuple[str, ...]  # the job's state per column ("" when the run has no such task)

    @property
    def deltas(self) -> tuple[float | None, ...]:
        """Each value minus the first column's (None where either is missing; the first is None)."""
        base = self.values[0] if self.values else None
        return tuple(
            None if index == 0 or base is None or value is None else value - base
            for index, value in enumerate(self.values)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "metric": self.metric,
            "values": list(self.values),
            "deltas": list(self.deltas),
            "states": list(self.states),
        }


@dataclass(frozen=True)
class Comparison:
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """``{"columns": [{invocation, stack, label, model_id}], "rows": [{task, metric, values,
        deltas, states}]}`` - deltas are to the first column."""
        return {
            "baseline": self.columns[0].label if self.columns else None,
            "columns": [c.to_json() for c in self.columns],
            "rows": [r.to_json() for r in self.rows],
            "notes": list(self.notes),
        }


def compare(invocations: list[InvocationRuns]) -> Comparison:
    runs: list[tuple[Column, dict[str, TaskRun]]] = []
    single_stacks = all(len({t.stack for t in inv.tasks}) <= 1 for inv in invocations)
    for inv in invocations:
        stacks = sorted({t.stack for t in inv.tasks}, key=lambda s: _stack_order(inv, s))
        for stack in stacks:
            tasks = {t.task: t for t in inv.tasks if t.stack == stack}
            if len(invocations) == 1:
                label = stack
            elif single_stacks:
                label = inv.invocation_id[:8]
            else:
                label = f"{inv.invocation_id[:8]}/{stack}"
            model = next((t.model_id for t in tasks.values() if t.model_id), "")
            runs.append((Column(inv.invocation_id, stack, label, model), tasks))
    notes = []
    if len(runs) < 2:
        notes.append("only one run to show: compare two invocations, or an invocation of several configs")
    task_names: list[str] = []
    for _, tasks in runs:
        task_names += [t for t in tasks if t not in task_names]
    rows: list[Row] = []
    for task in task_names:
        labels: list[str] = []
        per_column: list[dict[str, float]] = []
        states: list[str] = []
        for _, tasks in runs:
            run = tasks.get(task)
            states.append(run.state if run else "")
            values = _scores(run) if run else {}
            per_column.append(values)
            labels += [label for label in values if label not in labels]
        if not labels:
            rows.append(Row(task, "", tuple(None for _ in runs), tuple(states)))
            continue
        for label in labels:
            rows.append(Row(task, label, tuple(values.get(label) for values in per_column), tuple(states)))
    return Comparison(tuple(c for c, _ in runs), tuple(rows), tuple(notes))


def _scores(run: TaskRun) -> dict[str, float]:
    """A job's scores by row label (see :class:`Row`)."""
    several = len(run.scores) > 1
    out: dict[str, float] = {}
    for harness_task, metrics in run.scores.items():
        for metric, scores in metrics.items():
            for score, value in scores.items():
                label = metric if score == metric else f"{metric}.{score}"
                out[f"{harness_task}: {label}" if several else label] = value
    return out


def _stack_order(inv: InvocationRuns, stack: str) -> tuple[int, str]:
    """Stacks in the order the invocation recorded them (its config files' order), else by name."""
    names = list(inv.stacks)
    return (names.index(stack), stack) if stack in names else (len(names), stack)
