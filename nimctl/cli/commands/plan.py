"""``nimctl plan``: configs, state and (unless --refresh=false) the live platforms → the plan,
as text or JSON, optionally saved for ``nimctl apply FILE``. Writes nothing else."""

from __future__ import annotations

from typing import Any

import typer

from nimctl.cli.common import FILES_HELP, OVERRIDE_HELP, fail, need_files, parse_bool, run_context
from nimctl.cli.context import RunContext, load_stacks, state_banner, state_info
from nimctl.common.errors import NimctlError


def plan(
    files: list[str] = typer.Option(None, "-f", "--file", help=FILES_HELP),
    overrides: list[str] = typer.Option(None, "-o", "--override", help=OVERRIDE_HELP),
    json_output: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
    out: str = typer.Option(None, "--out", help="Save the plan to a file for `nimctl apply FILE`."),
    detailed_exitcode: bool = typer.Option(
        False, "--detailed-exitcode", help="Exit 0 with no changes, 1 on error, 2 with changes."
    ),
    refresh: str = typer.Option("true", "--refresh", help="Read live objects first (true/false)."),
    no_refresh: bool = typer.Option(False, "--no-refresh", help="Same as --refresh=false."),
    targets: list[str] = typer.Option(None, "--target", help="Limit to an address (repeatable)."),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show every job's spec in full (default: shared fields once)."
    ),
    prune: bool = typer.Option(
        False, "--prune", help="Plan as `apply --prune`: remove stacks the configs do not name."
    ),
    share_existing: bool = typer.Option(
        False, "--share-existing", help="Plan as `apply --share-existing`: use foreign endpoints as shared."
    ),
) -> None:
    """Show what apply would do. Writes nothing."""
    ctx = run_context()
    try:
        do_refresh = parse_bool("--refresh", refresh) and not no_refresh
        code = run_plan(
            ctx,
            need_files(files),
            overrides or [],
            json_output=json_output,
            out=out,
            detailed_exitcode=detailed_exitcode,
            refresh=do_refresh,
            targets=targets or [],
            verbose=verbose,
            prune=prune,
            share_existing=share_existing,
        )
    except NimctlError as err:
        fail(err, ctx.ui)
    raise typer.Exit(code)


def run_plan(
    ctx: RunContext,
    files: list[str],
    overrides: list[str],
    *,
    json_output: bool,
    out: str | None,
    detailed_exitcode: bool,
    refresh: bool,
    targets: list[str],
    verbose: bool = False,
    prune: bool = False,
    share_existing: bool = False,
) -> int:
    import json

    from nimctl.plan.actions import make_plan, scope_of
    from nimctl.plan.refresh import refresh as refresh_state

    stacks = load_stacks(files, overrides, ctx.ui)
    from nimctl.stack.speccheck import check_lepton_specs, raise_on_problems

    # Offline (--refresh=false) the SDK is not imported: only specs checked before count as checked.
    checked = check_lepton_specs(stacks, may_import_sdk=refresh)
    raise_on_problems(checked)
    if checked.unchecked:
        ctx.ui.err.write(
            f"Note: {checked.unchecked} Lepton spec(s) not yet parsed in the Lepton SDK's models "
            "(skipped with --refresh=false to stay fast); `nimctl plan` and `nimctl apply` check them.\n"
        )
    if refresh and any(s.platform == "lepton" for s in stacks):
        # Offline (--refresh=false) the workspace is not asked: node-group names stay names.
        from nimctl.plan.preflight import check_workspace

        for warning in check_workspace(stacks, ctx.provider("lepton"), applying=False):  # type: ignore[arg-type]
            ctx.ui.warn(warning)
    state = ctx.store.read()
    observed = None
    scope = scope_of(stacks, prune=prune)
    if refresh:
        # Only the platforms of the configs' stacks (and of the journal's entries of those stacks):
        # a local plan needs no Lepton credentials when the state also holds Lepton stacks.
        platforms = {s.platform for s in stacks}
        platforms |= {r.provider for r in state.resources.values() if scope is None or r.stack in scope}
        platforms |= {p.provider for p in state.pending if scope is None or p.stack in scope or not p.stack}
        observed = refresh_state(
            state,
            ctx.providers_for(platforms),
            stacks=scope,
            desired_endpoints=[s.endpoint for s in stacks if s.endpoint],
        )
    plan = make_plan(
        stacks, state, observed, targets=targets, salt=state.lineage, prune=prune, share_existing=share_existing
    )
    plan.cost = estimate_cost(plan, stacks)
    if json_output:
        from nimctl.plan.render import render_json

        document = {**render_json(plan), "state": state_info(ctx, state)}
        ctx.ui.print(json.dumps(document, indent=2, sort_keys=False))
    else:
        from nimctl.plan.render import render_text

        ctx.ui.print(state_banner(ctx, state))
        ctx.ui.print(render_text(plan, color=ctx.ui.color, verbose=verbose))
    if out:
        from nimctl.plan.planfile import save_plan

        save_plan(out, plan, stacks, state, observed, config_files=files, overrides=overrides)
        if not json_output:
            ctx.ui.print(f"\nSaved the plan to {out}. To perform exactly these actions: nimctl apply {out}")
    if detailed_exitcode and plan.has_changes:
        return 2
    return 0


def estimate_cost(plan: Any, stacks: list[Any], *, no_wait: bool = False) -> Any:
    """The plan's cost report, with the configured price table (``nimctl.config.prices``)."""
    from nimctl.config.prices import load_prices
    from nimctl.plan.cost import estimate

    return estimate(plan, stacks, load_prices(), no_wait=no_wait)
