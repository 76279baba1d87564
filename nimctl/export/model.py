"""What an export takes: finished invocations as plain data, independent of where they ran.

An :class:`InvocationRuns` holds one invocation's stacks (each with its redacted config) and one
:class:`TaskRun` per job: its scores (``task → metric → score → value``, as results.yml has them),
the small result files it left and where. ``nimctl.export.loader`` builds these from the state
and the results cache; the destinations only read them.

The metric names sent to MLflow, W&B and the summary files follow the launcher's rule (one name
rule, :func:`metric_name`), so dashboards built on launcher exports keep working.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# task → metric → score → value (groups are tasks here: a group is the summary of its tasks)
Scores = dict[str, dict[str, dict[str, float]]]


@dataclass(frozen=True)
class StackInfo:
    name: str
    source_file: str = ""
    config: dict[str, Any] = field(default_factory=dict)  # composed and redacted; {} when unknown


@dataclass(frozen=True)
class TaskRun:
    """One evaluation job of an invocation and what it left."""

    invocation_id: str
    stack: str
    task: str  # the task as the config names it
    resolved_task: str  # e.g. "lm-evaluation-harness.ifeval" or "nimctl.smoke"
    address: str  # job.<stack>.<task>
    job_name: str
    platform: str  # local | lepton (the launcher's "executor")
    state: str  # succeeded | failed | ...
    model_id: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    scores: Scores = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # file name → readable local copy
    results_dir: str | None = None  # where the job wrote its files (a storage path when known)
    extra_files_dir: Path | None = None  # the full output directory when it is on this machine

    @property
    def job_id(self) -> str:
        """The identity an export finds this job's run by: ``<invocation>.<stack>.<task>``."""
        return f"{self.invocation_id}.{self.stack}.{self.task}"

    @property
    def harness(self) -> str:
        return self.resolved_task.split(".", 1)[0] if "." in self.resolved_task else ""

    def metrics(self, filters: list[str] | None = None) -> dict[str, float]:
        """Every score as one flat name → value mapping (``log_metrics`` filters by substring)."""
        flat = flatten(self.scores)
        if not filters:
            return flat
        wanted = [f.lower() for f in filters]
        return {k: v for k, v in flat.items() if any(w in k.lower() for w in wanted)}


@dataclass(frozen=True)
class InvocationRuns:
    invocation_id: str
    status: str
    started_at: float | None
    stacks: dict[str, StackInfo]
    tasks: tuple[TaskRun, ...]


def metric_name(task: str, metric: str, score: str) -> str:
    """``<task>_<metric>`` when the score repeats the metric's name, else ``<task>_<metric>_<score>``
    (the launcher's names)."""
    return f"{task}_{metric}" if score == metric else f"{task}_{metric}_{score}"


def flatten(scores: Scores) -> dict[str, float]:
    return {
        metric_name(task, metric, score): value
        for task, metrics in scores.items()
        for metric, by_score in metrics.items()
        for score, value in by_score.items()
    }


_UNSAFE_KEY = re.compile(r"[^/\w.\- ]")


def safe_key(name: str, limit: int = 250) -> str:
    """A metric/param/tag key both MLflow and W&B accept: ``pass@1`` → ``pass_at_1``, other
    characters outside ``[/\\w.- ]`` → ``_`` (MLflow refuses them)."""
    text = _UNSAFE_KEY.sub("_", name.replace("pass@", "pass_at_"))
    return re.sub(r"_+", "_", text).strip()[:limit] or "key"


def flatten_config(config: Any, prefix: str = "config", max_depth: int = 10) -> dict[str, str]:
    """A nested config as ``config.a.b`` / ``config.tasks.0.name`` → text (the launcher's
    ``log_config_params`` layout); deeper than ``max_depth`` is kept as one value."""
    if max_depth <= 0:
        return {prefix: str(config)}
    if isinstance(config, dict):
        out: dict[str, str] = {}
        for key, value in config.items():
            out.update(flatten_config(value, f"{prefix}.{key}", max_depth - 1))
        return out
    if isinstance(config, list):
        out = {}
        for index, value in enumerate(config):
            out.update(flatten_config(value, f"{prefix}.{index}", max_depth - 1))
        return out
    return {prefix: "null" if config is None else str(config)}
