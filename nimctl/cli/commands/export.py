"""``nimctl export``: invocations' results sent to MLflow, Weights & Biases or summary files
(``nimctl.export``), and the outcome per job; also the auto-exports apply runs after its jobs,
as ``export`` events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from nimctl.cli.common import fail, run_context
from nimctl.cli.context import RunContext
from nimctl.common.errors import NimctlError


def export(
    invocations: list[str] = typer.Argument(..., help="Invocation id(s) or unique prefixes."),
    dest: str = typer.Option("local", "--dest", help="Where to: local (JSON/CSV files), mlflow or wandb."),
    fmt: str = typer.Option(None, "--format", help="json or csv (--dest local)."),
    overrides: list[str] = typer.Option(
        None, "-o", "--override", help="A setting, e.g. -o export.mlflow.tracking_uri=http://127.0.0.1:5000."
    ),
    config: str = typer.Option(
        None, "--config", help="Take export.<dest> from this YAML file instead of each run's own config."
    ),
    json_output: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
) -> None:
    """Send invocations' results to MLflow, Weights & Biases or summary files, configured like the
    launcher's export.<dest> blocks. Exporting again updates the same runs."""
    ctx = run_context()
    try:
        code = run_export(
            ctx,
            invocations,
            dest=dest,
            fmt=fmt,
            overrides=overrides or [],
            config=config,
            json_output=json_output,
        )
    except NimctlError as err:
        fail(err, ctx.ui)
    raise typer.Exit(code)


def config_block(path: str, dest: str) -> dict[str, Any]:
    """``export.<dest>`` of a YAML file (the launcher's ``export --config F``: a file without an
    ``export:`` section is the destination's settings itself)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise NimctlError(f"{path}: cannot read export settings: {err}") from None
    if not isinstance(data, dict):
        raise NimctlError(f"{path}: must be a mapping", hint=f"e.g. export: {{{dest}: {{...}}}}")
    if "export" not in data:
        return data
    block = data["export"] or {}
    if not isinstance(block, dict) or dest not in block:
        raise NimctlError(f"{path}: has no export.{dest} section", hint=f"add export: {{{dest}: {{...}}}}")
    return dict(block[dest] or {})


def run_export(
    ctx: RunContext,
    ids: list[str],
    *,
    dest: str,
    fmt: str | None,
    overrides: list[str],
    config: str | None,
    json_output: bool,
) -> int:
    import json

    from nimctl.cli.commands.results import load_invocations
    from nimctl.export.run import export_invocations, require_library
    from nimctl.export.settings import Destination

    destination = Destination.parse(dest)
    if fmt is not None:
        if destination is not Destination.LOCAL:
            ctx.ui.warn("--format is only used by --dest local; ignored")
        else:
            overrides = [*overrides, f"export.local.format={fmt}"]
    require_library(destination)
    block = config_block(config, destination.value) if config else None
    invocations = load_invocations(ctx, ids)
    report = export_invocations(invocations, destination, overrides, block)
    if json_output:
        ctx.ui.print(
            json.dumps(
                {
                    "destination": report.destination,
                    "ok": report.ok,
                    "files": report.files,
                    "notes": report.notes,
                    "jobs": [
                        {
                            "job_id": o.job_id,
                            "address": o.address,
                            "outcome": o.outcome.value,
                            "where": o.where,
                            "detail": o.detail,
                        }
                        for o in report.outcomes
                    ],
                },
                indent=2,
            )
        )
        return 0 if report.ok else 1
    for note in report.notes:
        ctx.ui.warn(note)
    render_outcomes(ctx.ui, report)
    for path in report.files:
        ctx.ui.print(f"Wrote {path}")
    if not report.ok:
        ctx.ui.error(f"{len(report.failed)} job(s) were not exported to {report.destination}.")
        return 1
    return 0


def render_outcomes(ui: Any, report: Any) -> None:
    if not report.outcomes:
        ui.print("Nothing to export: the invocation has no job results yet.")
        return
    ui.table(
        ["job", report.destination, "where", "detail"],
        [[o.address, o.outcome.value, o.where, _short(o.detail, 70)] for o in report.outcomes],
    )


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def export_events(ctx: RunContext, state: Any, invocation_id: str) -> list[Any]:
    """Run the invocation's auto-exports; one ``export`` event each (never raises)."""
    from nimctl.apply.events import ExportFinished
    from nimctl.export.auto import auto_export
    from nimctl.results import store as results_store

    events = []
    for done in auto_export(state, results_store.cache_root(ctx.state_dir), invocation_id):
        report = done.report
        failures = [{"address": o.address, "detail": o.detail} for o in (report.failed if report else [])]
        events.append(
            ExportFinished(
                destination=done.destination,
                invocation_id=invocation_id,
                ok=done.ok,
                counts=done.counts(),
                failures=failures,
                notes=list(report.notes) if report else [],
                error=done.error,
                retry=done.retry,
            )
        )
    return events
