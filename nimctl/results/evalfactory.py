"""NeMo Evaluator ("eval-factory") result files → typed scores.

Takes the text of ``results.yml`` (written by ``nemo-evaluator run_eval`` on success, by any
harness image, and by nimctl's built-in tasks) and of ``eval_factory_metrics.json`` (request and
run-time statistics); gives :class:`EvalResults` and :class:`RunMetrics`, plain frozen data with
a JSON form. Nothing here prints, touches the state or calls a platform.

The shape read (nemo-evaluator 0.1.x-0.2.x)::

    results:
      tasks:  {<task>:  {metrics: {<metric>: {scores: {<score>: {value: 0.5, stats: {...}}}}}}}
      groups: {<group>: {metrics: ..., groups: {...}}}        # may be {} or absent
    metadata: {versioning: {nemo_evaluator: 0.2.8, ...}}      # optional

The task key is the harness's own name for the task (IFBench writes ``ifbench`` whatever the
run config's ``config.type`` says), so it need not equal nimctl's task name.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nimctl.common.errors import NimctlError

RESULTS_FILE = "results.yml"
BUILTIN_RESULTS_FILE = "results.json"  # nimctl.smoke/perf's own detailed file (nimctl.builtin_tasks)
METRICS_FILE = "eval_factory_metrics.json"
# The files a job leaves that nimctl reads back and keeps (small: a few KB each).
RESULT_FILES = (RESULTS_FILE, METRICS_FILE)


class ResultsFileError(NimctlError):
    """A result file is not in the eval-factory format (names the file and what is wrong)."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(
            f"{source}: {problem}",
            "expected NeMo Evaluator's results.yml layout: results.tasks.<task>.metrics.<metric>.scores.<score>.value",
        )
        self.source = source


@dataclass(frozen=True)
class Score:
    value: float
    stats: dict[str, float] = field(default_factory=dict)  # count, mean, stderr, ... (those given)

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "stats": dict(self.stats)}


@dataclass(frozen=True)
class Metric:
    scores: dict[str, Score]

    def to_json(self) -> dict[str, Any]:
        return {"scores": {name: score.to_json() for name, score in self.scores.items()}}


@dataclass(frozen=True)
class TaskScores:
    """One task's (or group's) metrics; groups may nest further groups."""

    metrics: dict[str, Metric]
    groups: dict[str, TaskScores] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"metrics": {name: metric.to_json() for name, metric in self.metrics.items()}}
        if self.groups:
            data["groups"] = {name: group.to_json() for name, group in self.groups.items()}
        return data


@dataclass(frozen=True)
class Headline:
    """One score for a one-line summary: ``task`` / ``metric`` / ``score`` = ``value``."""

    task: str
    metric: str
    score: str
    value: float

    @property
    def label(self) -> str:
        """``metric`` when the score repeats the metric's name (as most harnesses write it),
        else ``metric.score``."""
        return self.metric if self.score == self.metric else f"{self.metric}.{self.score}"

    def text(self) -> str:
        return f"{self.label}={format_number(self.value)}"


@dataclass(frozen=True)
class EvalResults:
    """What a results.yml says: per-task and per-group scores, and the versions that made them."""

    tasks: dict[str, TaskScores]
    groups: dict[str, TaskScores] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)  # metadata.versioning (e.g. nemo_evaluator)

    def headlines(self) -> list[Headline]:
        """Every task's scores in file order (groups first: a group is the summary of its tasks)."""
        out = []
        for tables in (self.groups, self.tasks):
            for task, scores in tables.items():
                for metric_name, metric in scores.metrics.items():
                    for score_name, score in metric.scores.items():
                        out.append(Headline(task, metric_name, score_name, score.value))
        return out

    def to_json(self) -> dict[str, Any]:
        """``{"tasks": {<task>: {"metrics": {<metric>: {"scores": {<score>: {"value", "stats"}}}}}},
        "groups": {...}, "versions": {...}}`` - the numbers as numbers."""
        return {
            "tasks": {name: task.to_json() for name, task in self.tasks.items()},
            "groups": {name: group.to_json() for name, group in self.groups.items()},
            "versions": dict(self.versions),
        }


@dataclass(frozen=True)
class RunMetrics:
    """The headline figures of ``eval_factory_metrics.json`` (and the whole document, as read)."""

    requests: int | None = None
    successful_requests: int | None = None
    avg_latency_ms: float | None = None
    runtime_seconds: float | None = None
    status_codes: dict[str, int] = field(default_factory=dict)
    document: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "successful_requests": self.successful_requests,
            "avg_latency_ms": self.avg_latency_ms,
            "runtime_seconds": self.runtime_seconds,
            "status_codes": dict(self.status_codes),
        }


# -- parsing -------------------------------------------------------------------------------------


def parse_results_yml(text: str, source: str = RESULTS_FILE) -> EvalResults:
    """Parse a results.yml; raises ResultsFileError naming ``source`` when it is not one."""
    import yaml

    try:
        document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 (safe loader)
    except yaml.YAMLError as err:
        raise ResultsFileError(source, f"not YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(document, dict):
        raise ResultsFileError(source, "not a mapping")
    results = document.get("results")
    if not isinstance(results, dict):
        raise ResultsFileError(source, "has no `results` mapping")
    tasks = _tables(results.get("tasks"), f"{source}: results.tasks")
    groups = _tables(results.get("groups"), f"{source}: results.groups")
    metadata = document.get("metadata")
    versioning = metadata.get("versioning") if isinstance(metadata, dict) else None
    versions = {str(k): str(v) for k, v in versioning.items()} if isinstance(versioning, dict) else {}
    return EvalResults(tasks=tasks, groups=groups, versions=versions)


def _tables(node: Any, where: str) -> dict[str, TaskScores]:
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise ResultsFileError(where, "must be a mapping of names to {metrics: ...}")
    return {str(name): _task(value, f"{where}.{name}") for name, value in node.items()}


def _task(node: Any, where: str) -> TaskScores:
    if not isinstance(node, dict):
        raise ResultsFileError(where, "must be a mapping with `metrics`")
    metrics_node = node.get("metrics") or {}
    if not isinstance(metrics_node, dict):
        raise ResultsFileError(f"{where}.metrics", "must be a mapping")
    metrics = {str(name): _metric(value, f"{where}.metrics.{name}") for name, value in metrics_node.items()}
    return TaskScores(metrics=metrics, groups=_tables(node.get("groups"), f"{where}.groups"))


def _metric(node: Any, where: str) -> Metric:
    scores_node = node.get("scores") if isinstance(node, dict) else None
    if not isinstance(scores_node, dict):
        raise ResultsFileError(where, "must have a `scores` mapping")
    scores = {}
    for name, score in scores_node.items():
        value = score.get("value") if isinstance(score, dict) else None
        number = _number(value)
        if number is None:
            raise ResultsFileError(f"{where}.scores.{name}.value", f"is {value!r}, not a number")
        stats_node = score.get("stats") if isinstance(score.get("stats"), dict) else {}
        stats = {str(k): n for k, v in stats_node.items() if (n := _number(v)) is not None}
        scores[str(name)] = Score(value=number, stats=stats)
    return Metric(scores=scores)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parse_metrics_json(text: str, source: str = METRICS_FILE) -> RunMetrics:
    """Parse eval_factory_metrics.json (every field optional; unknown fields kept in ``document``)."""
    try:
        document = json.loads(text)
    except ValueError as err:
        raise ResultsFileError(source, f"not JSON ({err})") from None
    if not isinstance(document, dict):
        raise ResultsFileError(source, "not a JSON object")
    stats: dict[str, Any] = document["response_stats"] if isinstance(document.get("response_stats"), dict) else {}
    evaluation: dict[str, Any] = document["evaluation"] if isinstance(document.get("evaluation"), dict) else {}
    codes: dict[Any, Any] = stats["status_codes"] if isinstance(stats.get("status_codes"), dict) else {}
    count, ok = _number(stats.get("count")), _number(stats.get("successful_count"))
    return RunMetrics(
        requests=int(count) if count is not None else None,
        successful_requests=int(ok) if ok is not None else None,
        avg_latency_ms=_number(stats.get("avg_latency_ms")),
        runtime_seconds=_number(evaluation.get("runtime_seconds")),
        status_codes={str(k): int(v) for k, v in codes.items() if _number(v) is not None},
        document=document,
    )


def read_output_dir(directory: str | Path) -> tuple[EvalResults | None, RunMetrics | None]:
    """The parsed result files of one output directory; None for a file that is not there."""
    base = Path(directory)
    results = metrics = None
    path = base / RESULTS_FILE
    if path.is_file():
        results = parse_results_yml(path.read_text(encoding="utf-8"), str(path))
    path = base / METRICS_FILE
    if path.is_file():
        metrics = parse_metrics_json(path.read_text(encoding="utf-8"), str(path))
    return results, metrics


# -- writing (nimctl's built-in tasks) ---------------------------------------------------------


def results_document(task: str, metrics: dict[str, float], *, versions: dict[str, str] | None = None) -> dict[str, Any]:
    """A results.yml document in the eval-factory layout for one task whose metrics each have one
    score of the same name (how nimctl's built-ins report, so their scores show like any other)."""
    return {
        "results": {
            "tasks": {
                task: {
                    "metrics": {
                        name: {"scores": {name: {"value": value, "stats": {}}}} for name, value in metrics.items()
                    }
                }
            },
            "groups": {},
        },
        "metadata": {"versioning": dict(versions or {})},
    }


def format_number(value: float) -> str:
    """A score as people read it: up to 4 significant digits, integers without a fraction."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"
