"""``nimctl destroy``: an invocation, a config's stacks or the whole state → the destroyer
(``nimctl.apply.destroy``), reported through the human or the JSON view, confirmed on the
terminal unless approved."""

from __future__ import annotations

import typer

from nimctl.cli.common import OVERRIDE_HELP, approver, fail_run, make_view, run_context
from nimctl.common.errors import NimctlError


def destroy(
    invocation: str = typer.Argument(None, help="Invocation id (a unique prefix is enough)."),
    files: list[str] = typer.Option(None, "-f", "--file", help="Destroy these configs' stacks."),
    overrides: list[str] = typer.Option(None, "-o", "--override", help=OVERRIDE_HELP),
    all_: bool = typer.Option(False, "--all", help="Destroy everything in the state."),
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask for confirmation."),
    json_output: bool = typer.Option(False, "--json", help="Events as JSON lines on stdout (needs --auto-approve)."),
    force: bool = typer.Option(False, "--force", help="Also remove an endpoint another invocation uses."),
    lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="Seconds to wait for the state lock."),
) -> None:
    """Remove what an invocation (or a config, or everything) left running."""
    from nimctl.apply.destroy import DestroyOptions, run_destroy
    from nimctl.cli.context import load_stacks

    ctx = run_context(lock_timeout)
    view = make_view(ctx, json_output)
    try:
        chosen = sum(bool(x) for x in (invocation, files, all_))
        if chosen != 1:
            raise NimctlError("say what to destroy: an INVOCATION_ID, -f FILE, or --all (exactly one)")
        if json_output and not auto_approve:
            raise NimctlError("--json cannot ask for confirmation", hint="add --auto-approve")
        options = DestroyOptions(invocation=invocation, all=all_, force=force)
        stack_names = {s.name for s in load_stacks(files, overrides or [], view)} if files else None
        approve = approver(
            ctx.ui,
            auto_approve,
            "Do you really want to destroy these resources? Only 'yes' will be accepted.",
            "destroy needs confirmation but there is no terminal to ask on",
            "run it again with --auto-approve",
        )
        code = run_destroy(ctx, options, view, approve, stack_names=stack_names)
    except NimctlError as err:
        fail_run(err, ctx.ui, view, "destroy")
    raise typer.Exit(code)
