"""``nimctl logs``: recent log lines of an invocation's endpoint or jobs, through the platform's
log API."""

from __future__ import annotations

import typer

from nimctl.cli.common import fail, run_context
from nimctl.cli.context import RunContext
from nimctl.common.errors import NimctlError


def logs(
    invocation: str = typer.Argument(..., help="Invocation id or unique prefix."),
    task: str = typer.Option(None, "--task", help="A task's job logs."),
    endpoint: bool = typer.Option(False, "--endpoint", help="The endpoint's logs."),
    lines: int = typer.Option(200, "--lines", "-n", help="How many lines at most."),
) -> None:
    """Recent logs of an invocation's endpoint or jobs, through the platform's log API."""
    ctx = run_context()
    try:
        raise typer.Exit(run_logs(ctx, invocation, task=task, endpoint=endpoint, lines=lines))
    except NimctlError as err:
        fail(err, ctx.ui)


def run_logs(ctx: RunContext, invocation: str, *, task: str | None, endpoint: bool, lines: int) -> int:
    from nimctl.apply.destroy import resolve_invocation
    from nimctl.providers.base import NotFound

    state = ctx.store.read()
    inv_id = resolve_invocation(state, invocation)
    inv = state.invocations[inv_id]
    records = [r for a, r in sorted(state.resources.items()) if r.invocation_id == inv_id or a in inv.created]
    if endpoint:
        chosen = [r for r in records if r.type == "endpoint"]
    elif task:
        chosen = [r for r in records if r.type == "job" and r.address.split(".", 2)[-1] == task]
    else:
        chosen = [r for r in records if r.type == "job"]
    if not chosen:
        what = "endpoint" if endpoint else (f"task {task}" if task else "jobs")
        raise NimctlError(
            f"invocation {inv_id} has no {what} in the state", hint="`nimctl status " + inv_id + "` lists what it has"
        )
    for record in chosen:
        provider = ctx.provider(record.provider)
        try:
            if record.type == "endpoint":
                text = provider.logs(endpoint=record.name, limit=lines)
            else:
                text = provider.logs(job_id=record.platform_id, limit=lines)
        except NotFound:
            text = ["(gone from the platform; no logs)"]
        ctx.ui.print(f"==> {record.address} ({record.name}) <==")
        for line in text:
            ctx.ui.print(line)
    return 0
