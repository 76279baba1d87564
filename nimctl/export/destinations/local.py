"""``--dest local``: summary files (JSON or CSV, the launcher's layout) and copies of each job's
result files under ``output_dir``.

Layout::

    <output_dir>/processed_results.<json|csv>            every job ever exported here
    <output_dir>/<invocation>/processed_results.<fmt>    this invocation's jobs
    <output_dir>/<invocation>/<stack>.<task>/results.yml (and the other result files)

Each summary is keyed by job id (``<invocation>.<stack>.<task>``): exporting a job again replaces
its entry, never adds a second one. Files are replaced atomically.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import shutil
import time
from pathlib import Path
from typing import Any

from nimctl.common.files import write_atomic
from nimctl.export.model import InvocationRuns, TaskRun
from nimctl.export.report import ExportReport, Outcome, TaskOutcome

BASE_COLUMNS = (
    "Model Name",
    "Harness",
    "Task Name",
    "Executor",
    "Container",
    "Invocation ID",
    "Job ID",
    "Results Dir",
    "Stack",
)
# Never copied with only_required: false (the launcher's list: caches and bulky intermediates).
EXCLUDED = ("*cache*", "*.db", "*.lock", "synthetic", "debug.json", "preprocessed_datasets", "*.jsonl")


def export(invocations: list[InvocationRuns], settings: dict[str, Any]) -> ExportReport:
    report = ExportReport("local")
    root = Path(settings["output_dir"]).expanduser()
    fmt = settings["format"]
    filename = settings.get("output_filename") or f"processed_results.{fmt}"
    chosen: list[TaskRun] = []
    for inv in invocations:
        for run in inv.tasks:
            if not run.scores:
                report.outcomes.append(TaskOutcome(run.job_id, run.address, Outcome.SKIPPED, detail=_no_scores(run)))
                continue
            chosen.append(run)
            if settings["copy_artifacts"]:
                _copy_files(run, root / run.invocation_id / f"{run.stack}.{run.task}", settings)
    if not chosen:
        return report
    write = _upsert_json if fmt == "json" else _upsert_csv
    seen = write(root / filename, chosen, settings)
    report.files.append(str(root / filename))
    for inv_id in sorted({r.invocation_id for r in chosen}):
        path = root / inv_id / filename
        write(path, [r for r in chosen if r.invocation_id == inv_id], settings)
        report.files.append(str(path))
    for run in chosen:
        outcome = Outcome.UPDATED if run.job_id in seen else Outcome.CREATED
        report.outcomes.append(TaskOutcome(run.job_id, run.address, outcome, where=str(root / filename)))
    return report


def _no_scores(run: TaskRun) -> str:
    return f"no scores to export (job {run.state})"


def _entry(run: TaskRun, settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "invocation_id": run.invocation_id,
        "job_id": run.job_id,
        "stack": run.stack,
        "harness": run.harness,
        "container": run.resolved_task,
        "scores": run.metrics(settings["log_metrics"]),
        "timestamp": run.finished_at,
        "executor": run.platform,
        "results_dir": run.results_dir,
        "state": run.state,
    }


def _upsert_json(path: Path, runs: list[TaskRun], settings: dict[str, Any]) -> set[str]:
    """Merge ``runs`` into the summary at ``path``; returns the job ids it already held."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), dict):
            raise ValueError
    except (OSError, ValueError):
        data = {"benchmarks": {}}
    seen: set[str] = set()
    for run in runs:
        models = data["benchmarks"].setdefault(run.task, {"models": {}}).setdefault("models", {})
        entries = models.setdefault(run.model_id or "unknown", [])
        kept = [e for e in entries if not (isinstance(e, dict) and e.get("job_id") == run.job_id)]
        if len(kept) != len(entries):
            seen.add(run.job_id)
        kept.append(_entry(run, settings))
        models[run.model_id or "unknown"] = kept
    data["export_timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", mode=None, fsync=False)
    return seen


def _upsert_csv(path: Path, runs: list[TaskRun], settings: dict[str, Any]) -> set[str]:
    rows: list[dict[str, Any]] = []
    columns: list[str] = list(BASE_COLUMNS)
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns += [c for c in reader.fieldnames or [] if c not in columns]
    except OSError:
        pass
    wanted = {r.job_id for r in runs}
    seen = {row.get("Job ID", "") for row in rows} & wanted
    rows = [row for row in rows if row.get("Job ID") not in wanted]
    metric_columns: set[str] = set()
    for run in runs:
        row: dict[str, Any] = {
            "Model Name": run.model_id,
            "Harness": run.harness,
            "Task Name": run.task,
            "Executor": run.platform,
            "Container": run.resolved_task,
            "Invocation ID": run.invocation_id,
            "Job ID": run.job_id,
            "Results Dir": run.results_dir or "",
            "Stack": run.stack,
        }
        metrics = run.metrics(settings["log_metrics"])
        row.update(metrics)
        metric_columns.update(metrics)
        rows.append(row)
    columns += sorted(metric_columns - set(columns))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, out.getvalue(), mode=None, fsync=False)
    return seen


def _copy_files(run: TaskRun, target: Path, settings: dict[str, Any]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name, source in run.files.items():
        shutil.copyfile(source, target / name)
    if not settings["only_required"] and run.extra_files_dir and run.extra_files_dir.is_dir():
        patterns = (*EXCLUDED, *settings.get("exclude_patterns", []))
        shutil.copytree(
            run.extra_files_dir,
            target,
            dirs_exist_ok=True,
            ignore=lambda _dir, names: [n for n in names if any(fnmatch.fnmatch(n.lower(), p) for p in patterns)],
        )
