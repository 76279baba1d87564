"""``nimctl show``: the resources, invocations and journaled steps the state records, as a table
or as the state's JSON."""

from __future__ import annotations

import typer

from nimctl.cli.common import fail, run_context
from nimctl.cli.context import RunContext
from nimctl.common.errors import NimctlError


def show(json_output: bool = typer.Option(False, "--json", help="The state as JSON.")) -> None:
    """Resources and invocations recorded in the state file."""
    ctx = run_context()
    try:
        raise typer.Exit(run_show(ctx, json_output=json_output))
    except NimctlError as err:
        fail(err, ctx.ui)


def run_show(ctx: RunContext, *, json_output: bool) -> int:
    import json

    state = ctx.store.read()
    if json_output:
        ctx.ui.print(json.dumps(state.to_dict(), indent=2))
        return 0
    if not state.resources and not state.invocations:
        ctx.ui.print(f"The state at {ctx.state_location} is empty.")
        return 0
    ctx.ui.print(f"State {ctx.state_location} (lineage {state.lineage}, serial {state.serial})")
    if state.resources:
        ctx.ui.table(
            ["address", "name", "provider", "state", "invocation"],
            [
                [
                    a,
                    r.name,
                    r.provider,
                    r.observed.get("platform_state") or r.observed.get("state", ""),
                    r.invocation_id or "",
                ]
                for a, r in sorted(state.resources.items())
            ],
        )
    if state.invocations:
        ctx.ui.print("")
        ctx.ui.table(
            ["invocation", "command", "status", "created"],
            [[i.id, i.command, i.status, len(i.created)] for i in state.invocations.values()],
        )
    if state.pending:
        ctx.ui.print("")
        ctx.ui.print(
            f"{len(state.pending)} journaled step(s) of an interrupted run; the next plan/apply/destroy settles them:"
        )
        for p in state.pending:
            ctx.ui.print(f"  {p.op} {p.address} ({p.name}) by invocation {p.invocation_id}")
    return 0
