"""``nimctl state list|show|rm|history|push|pull``: the state's addresses, one record as the
state holds it (specs redacted), forgetting a record, the kept versions, and copying a whole
state between a file and PostgreSQL (``nimctl.state``). No platform is called."""

from __future__ import annotations

import typer

from nimctl.cli.common import HELP, fail, run_context
from nimctl.cli.context import RunContext
from nimctl.common.errors import NimctlError

app = typer.Typer(help="Inspect, edit and move the state.", no_args_is_help=True, context_settings=HELP)


@app.command("list")
def state_list() -> None:
    """The addresses recorded in the state."""
    ctx = run_context()
    try:
        for address in sorted(ctx.store.read().resources):
            ctx.ui.print(address)
    except NimctlError as err:
        fail(err, ctx.ui)


@app.command("show")
def state_show(
    address: str = typer.Argument(..., help="The address to show (see `nimctl state list`)."),
    json_output: bool = typer.Option(False, "--json", help="The record as JSON."),
) -> None:
    """One resource as the state records it (specs are redacted)."""
    ctx = run_context()
    try:
        raise typer.Exit(run_state_show(ctx, address, json_output=json_output))
    except NimctlError as err:
        fail(err, ctx.ui)


def run_state_show(ctx: RunContext, address: str, *, json_output: bool) -> int:
    import json

    state = ctx.store.read()
    record = state.resources.get(address)
    if record is None:
        known = ", ".join(sorted(state.resources)) or "none"
        raise NimctlError(f"{address} is not in the state", hint=f"`nimctl state list` lists the addresses: {known}")
    data = record.to_dict()
    if json_output:
        ctx.ui.print(json.dumps(data, indent=2))
        return 0
    ctx.ui.print(f'# {address}:\n{record.type} "{record.name}" {{')
    width = max(len(k) for k in data)
    for key, value in data.items():
        ctx.ui.print(f"  {key.ljust(width)} = {json.dumps(value, sort_keys=True)}")
    ctx.ui.print("}")
    return 0


@app.command("rm")
def state_rm(
    address: str = typer.Argument(..., help="Address to forget (the object keeps running)."),
    lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="Seconds to wait for the state lock."),
) -> None:
    """Forget a resource without destroying it (a backup of the state is kept)."""
    from nimctl.state.remove import state_rm as remove

    ctx = run_context()
    try:
        record = remove(ctx.store, address, lock_timeout=lock_timeout)
    except NimctlError as err:
        fail(err, ctx.ui)
    ctx.ui.print(
        f"Removed {address} from the state; {record.type} {record.name} still exists on "
        f"{record.provider} and is no longer managed."
    )


@app.command("history")
def state_history(
    limit: int = typer.Option(20, "--limit", "-n", help="How many versions to list (newest first)."),
    serial: int = typer.Option(None, "--serial", help="Print the state as it was at this serial (JSON)."),
) -> None:
    """The kept versions of the state (a state in PostgreSQL keeps every serial)."""
    import json

    from nimctl.state.backend import StateHistory

    ctx = run_context()
    try:
        store = ctx.store
        if not isinstance(store, StateHistory):
            raise NimctlError(
                f"the state file {store.location} keeps only its previous version ({store.location}.backup)",
                hint="a state in PostgreSQL keeps every version: nimctl --state postgresql://... state push FILE",
            )
        if serial is not None:
            ctx.ui.print(json.dumps(store.read_version(serial).to_dict(), indent=2))
            return
        versions = store.versions(limit)
        if not versions:
            ctx.ui.print(f"The state at {store.location} has no versions yet.")
            return
        ctx.ui.table(
            ["serial", "kind", "written at", "by", "what"],
            [[str(v.serial), v.kind, v.written_at, v.written_by, v.summary] for v in versions],
        )
    except NimctlError as err:
        fail(err, ctx.ui)


@app.command("push")
def state_push(
    source: str = typer.Argument(..., help="The state file to upload into --state / NIMCTL_STATE."),
    force: bool = typer.Option(False, "--force", help="Replace another or a newer state."),
    lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="Seconds to wait for the state lock."),
) -> None:
    """Make the state at --state (e.g. PostgreSQL) hold the state in SOURCE."""
    from nimctl.state.backend import open_state
    from nimctl.state.transfer import copy_state

    ctx = run_context()
    try:
        state = copy_state(open_state(source), ctx.store, command="state push", force=force, lock_timeout=lock_timeout)
    except NimctlError as err:
        fail(err, ctx.ui)
    ctx.ui.print(
        f"Pushed {source} to {ctx.state_location}: {len(state.resources)} resource(s), "
        f"lineage {state.lineage}, serial {state.serial}."
    )


@app.command("pull")
def state_pull(
    target: str = typer.Argument("-", help="The state file to write (default '-': print the state as JSON)."),
    force: bool = typer.Option(False, "--force", help="Replace another or a newer state."),
    lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="Seconds to wait for the state lock."),
) -> None:
    """Copy the state at --state (e.g. PostgreSQL) into TARGET, a state file."""
    import json

    from nimctl.state.backend import open_state
    from nimctl.state.transfer import copy_state

    ctx = run_context()
    try:
        if target == "-":
            ctx.ui.print(json.dumps(ctx.store.read().to_dict(), indent=2))
            return
        state = copy_state(ctx.store, open_state(target), command="state pull", force=force, lock_timeout=lock_timeout)
    except NimctlError as err:
        fail(err, ctx.ui)
    ctx.ui.print(
        f"Pulled {ctx.state_location} into {target}: {len(state.resources)} resource(s), "
        f"lineage {state.lineage}, serial {state.serial}."
    )
