"""``--dest wandb``: Weights & Biases runs, through ``wandb.init``.

``log_mode: per_task`` (the default) makes one run per evaluation job; ``multi_task`` one run per
stack of an invocation (the launcher's one run per invocation, as nimctl runs several configs in
one invocation). A run carries the scores (the launcher's metric names) in its summary and
history, the invocation, stack, task and the stack's redacted config in its config, the
configured ``tags``/``group``/``job_type``/``description``, and an ``evaluation_result`` artifact
with the job's small result files.

Idempotent without asking the server: each run's id is derived from the job (or from
``run_id``), and ``resume="allow"`` makes a second export continue the same run. That holds in
offline mode too (``WANDB_MODE=offline``): every export writes an ``offline-run-*`` directory for
the same run id, and ``wandb sync`` folds them into one run.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from nimctl.common.names import safe_component
from nimctl.export.model import InvocationRuns, StackInfo, TaskRun, safe_key
from nimctl.export.report import ExportReport, Outcome, TaskOutcome


def run_id_for(*parts: str) -> str:
    """A W&B run id for a job or stack: ``nimctl-<invocation>-<10 hex>`` (W&B ids take no ``/``,
    ``:`` or ``#``; task names may)."""
    invocation = parts[0]
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:10]
    return f"nimctl-{invocation}-{digest}"


def export(invocations: list[InvocationRuns], settings: dict[str, Any]) -> ExportReport:
    import wandb

    report = ExportReport("wandb")
    try:
        _export(wandb, invocations, settings, report)
    finally:
        # finish() returns before W&B's service has written everything (offline, the last run's
        # file can still be empty); teardown waits for it, so a reported run is a written run.
        wandb.teardown()
    return report


def _export(wandb: Any, invocations: list[InvocationRuns], settings: dict[str, Any], report: ExportReport) -> None:
    for inv in invocations:
        scored = [r for r in inv.tasks if r.scores]
        for run in inv.tasks:
            if not run.scores:
                report.outcomes.append(
                    TaskOutcome(run.job_id, run.address, Outcome.SKIPPED, detail=f"no scores (job {run.state})")
                )
        if settings["log_mode"] == "per_task":
            groups = [[r] for r in scored]
        else:
            by_stack: dict[str, list[TaskRun]] = {}
            for run in scored:
                by_stack.setdefault(run.stack, []).append(run)
            groups = list(by_stack.values())
        many_stacks = len({r.stack for r in scored}) > 1
        for runs in groups:
            try:
                resumed, where = _write_run(wandb, inv, runs, settings, many_stacks)
            except Exception as err:  # noqa: BLE001 - any W&B error fails these tasks only
                detail = f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
                report.outcomes += [TaskOutcome(r.job_id, r.address, Outcome.FAILED, detail=detail) for r in runs]
                continue
            outcome = Outcome.UPDATED if resumed else Outcome.CREATED
            report.outcomes += [TaskOutcome(r.job_id, r.address, outcome, where=where) for r in runs]


def _identity(inv: InvocationRuns, runs: list[TaskRun], settings: dict[str, Any], many_stacks: bool) -> tuple[str, str]:
    """(run id, run name) of the W&B run these jobs go to."""
    first = runs[0]
    if settings["log_mode"] == "per_task":
        run_id = run_id_for(inv.invocation_id, first.stack, first.task)
        name = settings.get("name") or f"eval-{inv.invocation_id}-{first.stack}-{first.task}"
    else:
        given = settings.get("run_id")
        run_id = (
            (f"{given}-{first.stack}" if many_stacks else given)
            if given
            else run_id_for(inv.invocation_id, first.stack)
        )
        name = settings.get("name") or f"eval-{inv.invocation_id}-{first.stack}"
    return run_id, name


def _write_run(
    wandb: Any, inv: InvocationRuns, runs: list[TaskRun], settings: dict[str, Any], many_stacks: bool
) -> tuple[bool, str]:
    first = runs[0]
    stack: StackInfo | None = inv.stacks.get(first.stack)
    run_id, name = _identity(inv, runs, settings, many_stacks)
    config: dict[str, Any] = {
        "invocation_id": inv.invocation_id,
        "executor": first.platform,
        "stack": first.stack,
        "model_id": first.model_id,
        "config_file": stack.source_file if stack else None,
    }
    if settings["log_mode"] == "per_task":
        config.update(
            job_id=first.job_id,
            harness=first.harness,
            benchmark=first.task,
            container=first.resolved_task,
            results_dir=first.results_dir,
        )
    else:
        config.update(benchmarks=[r.task for r in runs], harnesses=sorted({r.harness for r in runs if r.harness}))
    config.update(settings.get("extra_metadata") or {})
    if stack and stack.config:
        config["config"] = stack.config
    metrics: dict[str, float] = {}
    for run in runs:
        metrics.update({safe_key(k): v for k, v in run.metrics(settings["log_metrics"]).items()})

    init_args = {
        "entity": settings["entity"],
        "project": settings["project"],
        "id": run_id,
        "resume": "allow",
        "name": name,
        "group": settings.get("group") or inv.invocation_id,
        "job_type": settings["job_type"],
        "tags": settings.get("tags") or None,
        "notes": settings.get("description"),
        "config": config,
        # Read at every export: W&B's process-wide setup keeps the first WANDB_DIR it saw.
        "dir": os.environ.get("WANDB_DIR"),
        "settings": wandb.Settings(silent=True, console="off", x_disable_stats=True, save_code=False, init_timeout=60),
    }
    wb_run = wandb.init(**{k: v for k, v in init_args.items() if v is not None})
    try:
        resumed = bool(getattr(wb_run, "resumed", False))
        wb_run.config.update(config, allow_val_change=True)
        if settings["copy_artifacts"]:
            with tempfile.TemporaryDirectory(prefix="nimctl-export-") as tmp:
                wb_run.log_artifact(_artifact(wandb, inv, runs, stack, Path(tmp)))
        for key in metrics:
            wb_run.define_metric(key, summary="last")
        if not resumed:
            # History takes a step once; a resumed run would drop a repeated step, so the summary
            # (what W&B tables show) carries the values of every export.
            wb_run.log(metrics, step=0)
        wb_run.summary.update(metrics)
        where = getattr(wb_run, "url", None) or f"offline run {run_id}: wandb sync {Path(wb_run.dir).parent}"
    finally:
        wb_run.finish(exit_code=0 if all(r.state == "succeeded" for r in runs) else 1)
    return resumed, where


def _artifact(wandb: Any, inv: InvocationRuns, runs: list[TaskRun], stack: StackInfo | None, tmp: Path) -> Any:
    import yaml

    first = runs[0]
    label = f"{inv.invocation_id}_{first.stack}" + (f"_{first.task}" if len(runs) == 1 else "")
    artifact = wandb.Artifact(
        name=safe_component(label)[:128],
        type="evaluation_result",
        description="Evaluation results",
        metadata={"invocation_id": inv.invocation_id, "stack": first.stack, "tasks": [r.task for r in runs]},
    )
    config_file = tmp / "config.yml"
    config_file.write_text(yaml.safe_dump(stack.config if stack else {}, sort_keys=False), encoding="utf-8")
    artifact.add_file(str(config_file), name="config.yml")
    for run in runs:
        for file_name, source in run.files.items():
            artifact.add_file(str(source), name=f"{run.resolved_task or run.task}/artifacts/{file_name}")
    return artifact
