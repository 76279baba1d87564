"""``nimctl export`` and ``nimctl results ID1 ID2 ...`` (comparison): read the invocations, call
``nimctl.export``, render what it reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nimctl.cli.context import RunContext
from nimctl.common.errors import NimctlError


def _invocations(ctx: RunContext, ids: list[str]) -> list[Any]:
    from nimctl.apply.destroy import resolve_invocation
    from nimctl.cli.commands import collect_missing_results
    from nimctl.export.loader import load_invocation

    state = ctx.store.read()
    chosen: list[str] = []
    for prefix in ids:
        inv_id = resolve_invocation(state, prefix)
        if inv_id not in chosen:
            chosen.append(inv_id)
    loaded = []
    for inv_id in chosen:
        root = collect_missing_results(ctx, state, inv_id)
        loaded.append(load_invocation(state, root, inv_id))
    return loaded


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
    invocations = _invocations(ctx, ids)
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


def run_compare(ctx: RunContext, ids: list[str], *, json_output: bool) -> int:
    from nimctl.export.compare import compare

    comparison = compare(_invocations(ctx, ids))
    if json_output:
        ctx.ui.print(json.dumps(comparison.to_json(), indent=2))
        return 0
    for note in comparison.notes:
        ctx.ui.info(note)
    ctx.ui.print("\n".join(comparison_lines(comparison)))
    return 0


def comparison_lines(comparison: Any) -> list[str]:
    """The comparison as a text table: task, metric, then each column (deltas to the first)."""
    from nimctl.results.evalfactory import format_number

    headers = ["task", "metric"] + [c.label for c in comparison.columns]
    rows = []
    previous_task = None
    for row in comparison.rows:
        cells = [row.task if row.task != previous_task else "", row.metric or "(no scores)"]
        previous_task = row.task
        for index, (value, delta, state) in enumerate(zip(row.values, row.deltas, row.states, strict=True)):
            if value is None:
                cells.append(state if state and state != "succeeded" else "-")
            elif index == 0 or delta is None:
                cells.append(format_number(value))
            else:
                cells.append(f"{format_number(value)} ({_signed(delta)})")
        rows.append(cells)
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    models = [f"{c.label}: {c.model_id}" for c in comparison.columns if c.model_id]
    if models:
        lines.append("")
        lines.append("models: " + ", ".join(models) + f"; deltas are to {comparison.columns[0].label}")
    return lines


def _signed(delta: float) -> str:
    from nimctl.results.evalfactory import format_number

    return "=" if delta == 0 else (f"+{format_number(delta)}" if delta > 0 else format_number(delta))


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
