"""Finished invocations as export input: the state's record of each invocation (its stacks'
snapshots and job results) plus the scores and files ``nimctl.results`` reads back.

Takes the state, the directory of the results cache (``nimctl.results.store.cache_root``) and
invocation ids; gives :class:`~nimctl.export.model.InvocationRuns`. Reads files only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from nimctl.export.model import InvocationRuns, Scores, StackInfo, TaskRun

if TYPE_CHECKING:
    from nimctl.results.evalfactory import EvalResults, TaskScores
    from nimctl.results.store import JobResults
    from nimctl.state.model import State


def load_invocation(state: State, cache_root: Path, invocation_id: str) -> InvocationRuns:
    from nimctl.results import store

    inv = state.invocations[invocation_id]
    results = store.invocation_results(state, cache_root, invocation_id)
    stacks = {
        name: StackInfo(name, str(snap.get("source_file") or ""), dict(snap.get("config") or {}))
        for name, snap in inv.stacks.items()
    }
    tasks = []
    for job in results.jobs:
        _, stack, task = (job.address.split(".", 2) + ["", ""])[:3]
        snap = inv.stacks.get(stack, {})
        job_info = (snap.get("jobs") or {}).get(task, {})
        record = state.resources.get(job.address)
        resolved = job_info.get("resolved_task") or (record.extra.get("resolved_task") if record else None) or task
        platform = str(
            snap.get("platform")
            or (record.provider if record else None)
            or inv.job_results[job.address].get("platform")
            or "local"
        )
        stacks.setdefault(stack, StackInfo(stack))
        tasks.append(
            TaskRun(
                invocation_id=invocation_id,
                stack=stack,
                task=task,
                resolved_task=str(resolved),
                address=job.address,
                job_name=job.job,
                platform=platform,
                state=job.state,
                model_id=str(job_info.get("model_id") or _model_of(stacks[stack].config)),
                started_at=job.started_at,
                finished_at=job.finished_at,
                scores=scores_of(job.evaluation) if job.evaluation else {},
                files=_files(store, cache_root, invocation_id, job),
                results_dir=job.storage or job.results_dir,
                extra_files_dir=_local_dir(job, platform),
            )
        )
    return InvocationRuns(invocation_id, inv.status, inv.started_at, stacks, tuple(tasks))


def scores_of(results: EvalResults) -> Scores:
    """``task → metric → score → value`` of every group and task (a task's nested groups as
    ``<task>_<group>``, the launcher's naming)."""
    out: Scores = {}
    for table in (results.groups, results.tasks):
        for name, scores in table.items():
            _add(out, name, scores)
    return out


def _add(out: Scores, name: str, scores: TaskScores) -> None:
    out[name] = {metric: {s: v.value for s, v in m.scores.items()} for metric, m in scores.metrics.items()}
    for group, nested in scores.groups.items():
        _add(out, f"{name}_{group}", nested)


def _files(store: Any, root: Path, invocation_id: str, job: JobResults) -> dict[str, Path]:
    """The job's small result files, from the verified cache, else from its local output dir."""
    files: dict[str, Path] = {}
    cached = store.load(root, invocation_id, job.address)
    directory = store.job_cache_dir(root, invocation_id, job.address)
    for name in store.RESULT_FILES:
        if cached is not None and name in cached.files:
            files[name] = directory / name
        elif job.source == "output_dir" and job.results_dir and (Path(job.results_dir) / name).is_file():
            files[name] = Path(job.results_dir) / name
    return files


def _local_dir(job: JobResults, platform: str) -> Path | None:
    if platform == "local" and job.results_dir and Path(job.results_dir).is_dir():
        return Path(job.results_dir)
    return None


def _model_of(config: dict[str, Any]) -> str:
    target = ((config.get("target") or {}).get("api_endpoint") or {}).get("model_id")
    return str(target or (config.get("deployment") or {}).get("served_model_name") or "")
