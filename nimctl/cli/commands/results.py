"""``nimctl results``: one invocation's evaluation results (read back once from the jobs' logs
when nimctl did not see them finish), or several runs compared side by side
(``nimctl.export.compare``), as text or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from nimctl.cli.common import fail, run_context
from nimctl.cli.context import RunContext
from nimctl.common.errors import NimctlError

if TYPE_CHECKING:
    from nimctl.results.store import ResultLogReader


def results(
    invocations: list[str] = typer.Argument(..., help="Invocation id(s) or unique prefixes."),
    json_output: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
    compare: bool = typer.Option(
        False, "--compare", help="Compare runs side by side (implied by several ids; with one, its stacks)."
    ),
) -> None:
    """The evaluation results of an invocation, or several runs compared: tasks as rows, runs as
    columns, each score with its difference to the first column."""
    ctx = run_context()
    try:
        if compare or len(invocations) > 1:
            raise typer.Exit(run_compare(ctx, invocations, json_output=json_output))
        raise typer.Exit(run_results(ctx, invocations[0], json_output=json_output))
    except NimctlError as err:
        fail(err, ctx.ui)


def collect_missing_results(ctx: RunContext, state: Any, inv_id: str) -> Path:
    """Read back, once, the result files of the invocation's jobs nimctl did not see finish
    (apply --no-wait, or an interrupted wait); later calls (and offline ones) use the cache.
    Gives the cache's root."""
    from nimctl.results import store as results_store

    root = results_store.cache_root(ctx.state_dir)
    for address, record in sorted(state.invocations[inv_id].job_results.items()):
        if results_store.load(root, inv_id, address) is None and record.get("platform") == "lepton":
            try:
                reader = cast("ResultLogReader", ctx.provider("lepton"))  # the Lepton provider reads job logs
                results_store.collect_record(root, inv_id, address, record, reader)
            except NimctlError as err:
                ctx.ui.warn(f"{address}: could not read its results back from the job's log: {err.message}")
    return root


def load_invocations(ctx: RunContext, ids: list[str]) -> list[Any]:
    """The invocations named by ``ids`` (unique prefixes; each once, in the order given), loaded
    with their results (``nimctl.export.loader``) for export and comparison."""
    from nimctl.apply.destroy import resolve_invocation
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


def run_results(ctx: RunContext, invocation: str, *, json_output: bool) -> int:
    import json

    from nimctl.apply.destroy import resolve_invocation
    from nimctl.providers.base import JobState
    from nimctl.results import store as results_store

    state = ctx.store.read()
    inv_id = resolve_invocation(state, invocation)
    inv = state.invocations[inv_id]
    root = collect_missing_results(ctx, state, inv_id)
    results = results_store.invocation_results(state, root, inv_id)
    document = results.to_json()
    if json_output:
        ctx.ui.print(json.dumps(document, indent=2))
        return 0
    if not results.jobs:
        ctx.ui.print(f"Invocation {inv.id} has no job results yet (status: {inv.status}).")
        return 0
    from nimctl.cli.results_view import detail_lines

    ctx.ui.print(f"Invocation {inv.id} ({inv.status})")
    for job in document["results"]:
        ctx.ui.print("")
        ctx.ui.print("\n".join(detail_lines(job)))
    failed = [j for j in results.jobs if j.state != JobState.SUCCEEDED.value]
    return 1 if failed else 0


def run_compare(ctx: RunContext, ids: list[str], *, json_output: bool) -> int:
    import json

    from nimctl.export.compare import compare

    comparison = compare(load_invocations(ctx, ids))
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
