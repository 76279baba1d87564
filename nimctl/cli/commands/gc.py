"""``nimctl gc``: the objects nimctl made that no state records (``nimctl.apply.gc``), listed,
and the orphans (and what is named) removed under the state lock after confirmation."""

from __future__ import annotations

from typing import Any

import typer

from nimctl.cli.common import fail, run_context
from nimctl.cli.context import RunContext, state_banner, state_info
from nimctl.common.errors import NimctlError


def gc(
    names: list[str] = typer.Argument(
        None, help="Also remove these (names or job ids), though another state records them."
    ),
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Do not ask for confirmation."),
    older_than: str = typer.Option(None, "--older-than", help="Only objects at least this old (e.g. 6h, 2d)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List only; remove nothing."),
    json_output: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
    lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="Seconds to wait for the state lock."),
) -> None:
    """Find endpoints and jobs nimctl made that no state records (lost or deleted state files) and remove them."""
    ctx = run_context(lock_timeout)
    try:
        code = run_gc(
            ctx, names or [], auto_approve=auto_approve, older_than=older_than, dry_run=dry_run, json_output=json_output
        )
    except NimctlError as err:
        fail(err, ctx.ui)
    raise typer.Exit(code)


def run_gc(
    ctx: RunContext,
    names: list[str],
    *,
    auto_approve: bool,
    older_than: str | None,
    dry_run: bool,
    json_output: bool,
) -> int:
    """``nimctl gc``: list nimctl-made objects no state records, remove the orphans (and what is named)."""
    import json

    from nimctl.apply.gc import collect, survey
    from nimctl.apply.journal import Journal
    from nimctl.common.durations import DURATION_HINT, parse_duration
    from nimctl.config.prices import load_prices

    older_s = None
    if older_than is not None:
        older_s = parse_duration(older_than)
        if older_s is None:
            raise NimctlError(f"--older-than {older_than!r} is not a duration", hint=DURATION_HINT)
    if json_output and not (auto_approve or dry_run):
        raise NimctlError("gc --json needs --auto-approve or --dry-run (there is no prompt in JSON mode)")
    import contextlib

    # --dry-run writes nothing, not even the lock file; a removal holds the state lock throughout.
    guard = contextlib.nullcontext() if dry_run else ctx.store.lock("gc", timeout=ctx.lock_timeout)
    with guard:
        state = ctx.store.read()
        providers = ctx.providers_for({"lepton", "local"})
        found = survey(state, providers, prices=load_prices(), older_than_s=older_s)
        unknown = [n for n in names if not any(n in (f.name, f.id) for f in found.found)]
        if unknown:
            raise NimctlError(
                f"nothing nimctl made and this state does not record is named {', '.join(unknown)}",
                hint="`nimctl gc --dry-run` lists what gc sees",
            )
        chosen = found.chosen(names)
        if not json_output:
            ctx.ui.print(state_banner(ctx, state))
            _show_gc(ctx, found, chosen)
        if not chosen or dry_run:
            if json_output:
                ctx.ui.print(
                    json.dumps({"state": state_info(ctx, state), **found.to_dict(), "removed": [], "left": []})
                )
            return 0
        if not auto_approve and not _gc_approved(ctx):
            ctx.ui.print("gc cancelled.")
            return 1
        ctx.store.check_writable()
        from nimctl.apply.applier import new_invocation_id

        def on_event(kind: str, item: Any, text: str) -> None:
            if json_output:
                return
            if kind == "deleting":
                ctx.ui.print(f"{item.provider} {item.label}: deleting")
            elif kind == "gone":
                ctx.ui.print(f"{item.provider} {item.label}: gone")
            elif kind == "failed":
                ctx.ui.error(f"{item.provider} {item.label}: {text}")

        left = collect(Journal(ctx.store, state), providers, chosen, new_invocation_id(), on_event)
    removed = [f for f in chosen if f not in left]
    if json_output:
        document = {
            "state": state_info(ctx, state),
            **found.to_dict(),
            "removed": [f.to_dict() for f in removed],
            "left": [f.to_dict() for f in left],
        }
        ctx.ui.print(json.dumps(document, indent=2))
    elif left:
        ctx.ui.error(
            f"{len(left)} object(s) are still there: "
            + ", ".join(f"{f.provider} {f.label}" for f in left)
            + ". Run `nimctl gc` again later."
        )
    else:
        ctx.ui.success(f"gc complete: {len(removed)} object(s) removed.")
    return 1 if left else 0


def _gc_approved(ctx: RunContext) -> bool:
    import sys

    if not sys.stdin.isatty():
        raise NimctlError(
            "gc needs confirmation but there is no terminal to ask on",
            hint="review `nimctl gc --dry-run`, then run `nimctl gc --auto-approve`",
        )
    return ctx.ui.confirm("Do you want to remove these objects? Only 'yes' will be accepted.")


def _show_gc(ctx: RunContext, found: Any, chosen: list[Any]) -> None:
    from nimctl.common.durations import format_age
    from nimctl.plan.cost import so_far_text

    for note in found.notes:
        ctx.ui.print(f"Note: {note}")
    if not found.found:
        ctx.ui.print("Nothing to collect: every object nimctl made that is still running is recorded by this state.")
        return
    ctx.ui.print("Objects nimctl made that this state does not record:")
    rows = []
    for f in found.found:
        owner = "@".join(p for p in (f.marker.user, f.marker.host) if p) or "?"
        state_path = f.marker.state.removeprefix("file:") or "?"
        size = f"{f.shape or '?'} x {f.replicas}"
        action = "remove" if f in chosen else "keep"
        rows.append(
            [
                f.kind,
                f.name if f.kind == "endpoint" else f"{f.name} ({f.id})",
                f.provider,
                owner,
                state_path,
                format_age(f.age_s) if f.age_s is not None else "?",
                size,
                so_far_text(f.cost) if f.cost.get("age_s") is not None else "",
                f"{action}: {f.verdict.value}, {f.reason}",
            ]
        )
    ctx.ui.table(["kind", "name", "platform", "owner", "state", "age", "shape", "cost so far", "gc"], rows)
    kept = len(found.found) - len(chosen)
    ctx.ui.print(
        f"gc will remove {len(chosen)} object(s)"
        + (f"; {kept} kept (recorded by another state or not verifiable: name one to remove it)" if kept else "")
        + "."
    )
