"""``nimctl apply``: configs (or a saved plan) → the applier (``nimctl.apply.applier``), reported
through the human or the JSON view, confirmed on the terminal unless approved; then the
auto-exports the configs ask for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from nimctl.cli.common import (
    FILES_HELP,
    OVERRIDE_HELP,
    approver,
    fail_run,
    make_view,
    need_files,
    run_context,
)
from nimctl.cli.context import RunContext
from nimctl.common.errors import NimctlError


def apply(
    plan_file: str = typer.Argument(None, help="A plan saved with `nimctl plan --out`."),
    files: list[str] = typer.Option(None, "-f", "--file", help=FILES_HELP),
    overrides: list[str] = typer.Option(None, "-o", "--override", help=OVERRIDE_HELP),
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask for confirmation."),
    json_output: bool = typer.Option(
        False, "--json", help="Events as JSON lines on stdout (needs --auto-approve or a plan file)."
    ),
    no_wait: bool = typer.Option(False, "--no-wait", help="Return once jobs are submitted."),
    keep_on_failure: bool = typer.Option(
        False, "--keep-on-failure", help="Do not remove what this run created when it fails."
    ),
    destroy_after: bool = typer.Option(
        False, "--destroy-after", help="Remove the endpoint once every job has finished."
    ),
    parallelism: int = typer.Option(10, "--parallelism", min=1, max=200, help="Jobs submitted at once."),
    targets: list[str] = typer.Option(None, "--target", help="Limit to an address (repeatable)."),
    replace: list[str] = typer.Option(
        None, "--replace", help="Recreate this endpoint, or run this job again, although nothing changed (repeatable)."
    ),
    lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="Seconds to wait for the state lock."),
    prune: bool = typer.Option(
        False, "--prune", help="The configs are authoritative: also remove stacks of the state they do not name."
    ),
    share_existing: bool = typer.Option(
        False,
        "--share-existing",
        help="Use a live endpoint that is not this state's (same name) without owning it: never modified or deleted.",
    ),
) -> None:
    """Make the platform match the config: deploy, wait until ready, run the evaluation jobs."""
    from nimctl.apply.applier import ApplyOptions, run_apply
    from nimctl.cli.context import load_stacks

    ctx = run_context(lock_timeout)
    view = make_view(ctx, json_output)
    options = ApplyOptions(
        wait=not no_wait,
        keep_on_failure=keep_on_failure,
        destroy_after=destroy_after,
        parallelism=parallelism,
        targets=targets or [],
        replace=replace or [],
        prune=prune,
        share_existing=share_existing,
    )
    try:
        if plan_file and files:
            raise NimctlError("give either a plan file or -f configs, not both")
        if plan_file and replace:
            raise NimctlError("--replace applies to -f configs: a saved plan already says what it replaces")
        if not plan_file:
            need_files(files)
        if json_output and not (auto_approve or plan_file):
            raise NimctlError(
                "--json cannot ask for confirmation", hint="add --auto-approve, or apply a saved plan file"
            )
        approve = approver(
            ctx.ui,
            auto_approve or bool(plan_file),  # the saved plan was the review: no second prompt
            "Do you want to perform these actions? Only 'yes' will be accepted.",
            "apply needs confirmation but there is no terminal to ask on",
            "review `nimctl plan`, then run `nimctl apply --auto-approve`",
        )
        stacks = load_stacks(files or [], overrides or [], view) if not plan_file else None
        code = run_apply(
            ctx,
            stacks,
            options,
            view,
            approve,
            plan_file=plan_file,
            config_files=files or None,
            after_jobs=auto_export_hook(ctx),
        )
    except NimctlError as err:
        fail_run(err, ctx.ui, view, "apply")
    raise typer.Exit(code)


def auto_export_hook(ctx: RunContext) -> Callable[[str, Any, Any], None]:
    """What apply runs once its jobs have finished: the exports ``execution.auto_export`` asks for."""

    def hook(invocation_id: str, state: Any, events: Any) -> None:
        from nimctl.export.auto import destinations_of

        if not destinations_of(state, invocation_id):
            return  # nothing imported for the (usual) config without auto_export
        from nimctl.cli.commands.export import export_events

        for event in export_events(ctx, state, invocation_id):
            events.emit(event)

    return hook
