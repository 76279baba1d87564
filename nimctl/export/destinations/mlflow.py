"""``--dest mlflow``: one MLflow run per evaluation job, through ``mlflow.MlflowClient``.

Each run carries the job's scores as metrics (the launcher's names), the invocation, stack, task,
harness and platform as tags (plus the configured ``tags``), the stack's redacted config as
``config.*`` params (``log_config_params``), and its small result files as artefacts
(``config.yml`` at the root, ``<task>/artifacts/results.yml`` ...).

Idempotent: a job's run is found again by its ``job_id`` tag (``<invocation>.<stack>.<task>``),
so exporting twice updates the same run: tags are set again, metrics are logged with the job's
finish time as timestamp and step 0 (an identical value is not added to the history twice by
MLflow's stores), params missing from the run are added (MLflow never changes a logged param),
artefacts are replaced. ``skip_existing: true`` leaves an existing run alone.

Works with any tracking URI MLflow takes: ``http(s)://`` servers, ``sqlite:///path.db``, ``file:``
stores. Requests to a server are bounded (2 retries, 30 s timeout) unless MLFLOW_HTTP_REQUEST_*
say otherwise, so an auto-export against a server that is down gives up within a minute; MLflow's
own usage telemetry is off unless MLFLOW_DISABLE_TELEMETRY says otherwise.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from nimctl.export.model import InvocationRuns, StackInfo, TaskRun, flatten_config, safe_key
from nimctl.export.report import ExportReport, Outcome, TaskOutcome

PARAM_VALUE_MAX = 6000  # MLflow 2.x/3.x server limit
TAG_VALUE_MAX = 5000
BATCH_PARAMS = 100  # log_batch limits
BATCH_METRICS = 1000
BATCH_TAGS = 100

# Defaults for what the user has not set: bounded requests, and no usage reports sent to MLflow's
# telemetry service on nimctl's behalf.
_ENV_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_LOGGING_LEVEL": "WARNING",  # not "Creating initial MLflow database tables..." on every new store
}


def export(invocations: list[InvocationRuns], settings: dict[str, Any]) -> ExportReport:
    for name, value in _ENV_DEFAULTS.items():
        os.environ.setdefault(name, value)
    from mlflow.tracking import MlflowClient

    report = ExportReport("mlflow")
    uri = settings["tracking_uri"]
    client = MlflowClient(tracking_uri=uri)
    experiment_id: str | None = None
    for inv in invocations:
        try:
            if experiment_id is None:
                experiment_id = _experiment(client, settings["experiment_name"])
            existing = _existing_runs(client, experiment_id, inv.invocation_id)
        except Exception as err:  # noqa: BLE001 - the store is unreachable or refuses: every task fails
            reason = _reason(err, uri)
            report.outcomes += [TaskOutcome(r.job_id, r.address, Outcome.FAILED, detail=reason) for r in inv.tasks]
            continue
        for run in inv.tasks:
            if not run.scores:
                report.outcomes.append(
                    TaskOutcome(run.job_id, run.address, Outcome.SKIPPED, detail=f"no scores (job {run.state})")
                )
                continue
            found = existing.get(run.job_id, [])
            if len(found) > 1:
                report.notes.append(
                    f"{run.job_id}: {len(found)} MLflow runs carry this job id; updating the oldest, "
                    f"{found[0].info.run_id} (the others: {', '.join(r.info.run_id for r in found[1:])})"
                )
            previous = found[0] if found else None
            if previous is not None and settings["skip_existing"]:
                report.outcomes.append(
                    TaskOutcome(
                        run.job_id, run.address, Outcome.SKIPPED, where=previous.info.run_id, detail="skip_existing"
                    )
                )
                continue
            try:
                run_id, detail = _write_run(client, experiment_id, run, inv.stacks.get(run.stack), previous, settings)
            except Exception as err:  # noqa: BLE001 - any MLflow/transport error fails this task only
                report.outcomes.append(TaskOutcome(run.job_id, run.address, Outcome.FAILED, detail=_reason(err, uri)))
                continue
            outcome = Outcome.UPDATED if previous is not None else Outcome.CREATED
            report.outcomes.append(TaskOutcome(run.job_id, run.address, outcome, where=run_id, detail=detail))
    return report


def _experiment(client: Any, name: str) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    try:
        return str(client.create_experiment(name))
    except MlflowException:
        # Created by a concurrent export between the look-up and the create.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


def _existing_runs(client: Any, experiment_id: str, invocation_id: str) -> dict[str, list[Any]]:
    """This invocation's runs by job id, oldest first (one search per invocation, paged)."""
    by_job: dict[str, list[Any]] = {}
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=f"tags.invocation_id = '{invocation_id}'",  # a 16-hex id: nothing to escape
            max_results=1000,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        for found in page:
            job_id = found.data.tags.get("job_id")
            if job_id:
                by_job.setdefault(job_id, []).append(found)
        token = getattr(page, "token", None)
        if not token:
            return by_job


def _write_run(
    client: Any,
    experiment_id: str,
    run: TaskRun,
    stack: StackInfo | None,
    previous: Any,
    settings: dict[str, Any],
) -> tuple[str, str]:
    from mlflow.entities import Metric, Param, RunStatus, RunTag

    tags = _tags(run, settings)
    if previous is None:
        created = client.create_run(
            experiment_id,
            start_time=_ms(run.started_at),
            tags={k: v for k, v in tags.items()},
            run_name=tags["mlflow.runName"],
        )
        run_id = created.info.run_id
        logged_params: dict[str, str] = {}
    else:
        run_id = previous.info.run_id
        logged_params = dict(previous.data.params)
    tag_list = [RunTag(k, v) for k, v in tags.items()]
    for chunk in _chunks(tag_list, BATCH_TAGS):
        client.log_batch(run_id, tags=chunk)

    params = _params(run, stack, settings)
    new_params = [Param(k, v) for k, v in params.items() if k not in logged_params]
    changed = sorted(k for k, v in params.items() if k in logged_params and logged_params[k] != v)
    for chunk in _chunks(new_params, BATCH_PARAMS):
        client.log_batch(run_id, params=chunk)

    when = _ms(run.finished_at) or int(time.time() * 1000)
    metrics = [Metric(safe_key(k), float(v), when, 0) for k, v in run.metrics(settings["log_metrics"]).items()]
    for chunk in _chunks(metrics, BATCH_METRICS):
        client.log_batch(run_id, metrics=chunk)

    if settings["copy_artifacts"]:
        _log_artifacts(client, run_id, run, stack, settings)
    status = RunStatus.to_string(RunStatus.FINISHED if run.state == "succeeded" else RunStatus.FAILED)
    client.set_terminated(run_id, status=status, end_time=_ms(run.finished_at))

    detail = []
    if previous is not None and new_params:
        detail.append(f"{len(new_params)} param(s) added")
    if changed:
        detail.append(
            f"{len(changed)} param(s) differ from the run's and were kept (MLflow never changes a param): "
            + ", ".join(changed[:5])
            + (" ..." if len(changed) > 5 else "")
        )
    return run_id, "; ".join(detail)


def _tags(run: TaskRun, settings: dict[str, Any]) -> dict[str, str]:
    tags = {
        "invocation_id": run.invocation_id,
        "job_id": run.job_id,
        "stack": run.stack,
        "task_name": run.task,
        "benchmark": run.task,
        "harness": run.harness,
        "container": run.resolved_task,
        "executor": run.platform,
        "model_id": run.model_id,
        "job_state": run.state,
        "nimctl.address": run.address,
        "mlflow.runName": settings.get("run_name") or f"eval-{run.invocation_id}-{run.stack}-{run.task}",
    }
    if settings.get("description"):
        tags["mlflow.note.content"] = settings["description"]
    for key, value in (settings.get("tags") or {}).items():
        if value not in (None, ""):
            tags[str(key)] = str(value)
    return {safe_key(k) if not k.startswith("mlflow.") else k: _clip(v, TAG_VALUE_MAX) for k, v in tags.items() if v}


def _params(run: TaskRun, stack: StackInfo | None, settings: dict[str, Any]) -> dict[str, str]:
    params: dict[str, Any] = {
        "invocation_id": run.invocation_id,
        "executor": run.platform,
        "stack": run.stack,
        "task": run.task,
        "timestamp": run.finished_at,
        "results_dir": run.results_dir,
        "config_file": stack.source_file if stack else None,
    }
    params.update(settings.get("extra_metadata") or {})
    if settings["log_config_params"] and stack and stack.config:
        params.update(flatten_config(stack.config, "config", settings["log_config_params_max_depth"]))
    return {safe_key(str(k)): _clip(str(v), PARAM_VALUE_MAX) for k, v in params.items() if v is not None}


def _log_artifacts(client: Any, run_id: str, run: TaskRun, stack: StackInfo | None, settings: dict[str, Any]) -> None:
    import yaml

    from nimctl.export.destinations.local import EXCLUDED

    base = f"{run.resolved_task or run.task}/artifacts"
    with tempfile.TemporaryDirectory(prefix="nimctl-export-") as tmp:
        config_file = Path(tmp) / "config.yml"
        config_file.write_text(yaml.safe_dump(stack.config if stack else {}, sort_keys=False), encoding="utf-8")
        client.log_artifact(run_id, str(config_file))
        metrics_file = Path(tmp) / "metrics.json"
        metrics_file.write_text(json.dumps(run.metrics(settings["log_metrics"]), indent=2, sort_keys=True))
        client.log_artifact(run_id, str(metrics_file), base)
    for source in run.files.values():
        client.log_artifact(run_id, str(source), base)
    if not settings["only_required"] and run.extra_files_dir and run.extra_files_dir.is_dir():
        import fnmatch

        patterns = (*EXCLUDED, *settings.get("exclude_patterns", []))
        for path in sorted(run.extra_files_dir.rglob("*")):
            rel = path.relative_to(run.extra_files_dir)
            excluded = any(fnmatch.fnmatch(part.lower(), pat) for part in rel.parts for pat in patterns)
            if path.is_file() and not excluded and str(rel) not in run.files:
                folder = base if str(rel.parent) == "." else f"{base}/{rel.parent.as_posix()}"
                client.log_artifact(run_id, str(path), folder)


def _reason(err: Exception, uri: str) -> str:
    shown = public_uri(uri)
    text = " ".join(str(err).split()).replace(uri, shown)
    return f"{type(err).__name__}: {text[:300]} (tracking URI {shown})"


def public_uri(uri: str) -> str:
    """The URI without credentials (``https://user:password@host`` → ``https://host``)."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", uri, flags=re.I)


def _ms(seconds: float | None) -> int | None:
    return int(seconds * 1000) if isinstance(seconds, (int, float)) else None


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split()) if "\n" in text else text
    return text[:limit]


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
