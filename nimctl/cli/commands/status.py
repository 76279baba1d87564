"""``nimctl status``: the state's invocations with their resources, their live states (one
listing per platform; a platform that cannot be read is reported after the others) and, for
Lepton endpoints, their cost so far."""

from __future__ import annotations

from typing import Any

import typer

from nimctl.cli.common import fail, run_context
from nimctl.cli.context import RunContext, state_banner, state_info
from nimctl.common.errors import NimctlError


def status(
    invocation: str = typer.Argument(None, help="Invocation id or unique prefix (default: all)."),
    json_output: bool = typer.Option(False, "--json", help="One JSON document on stdout."),
) -> None:
    """Invocations with their resources and live states."""
    ctx = run_context()
    try:
        raise typer.Exit(run_status(ctx, invocation, json_output=json_output))
    except NimctlError as err:
        fail(err, ctx.ui)


def _live_states(ctx: RunContext, state: Any, unread: list[NimctlError]) -> dict[str, dict[str, Any]]:
    """One listing per provider and kind: address → {state, platform_state, url}. A platform that
    cannot be read adds its error to ``unread``; the others are still read."""
    from nimctl.plan.refresh import refresh as refresh_state
    from nimctl.state.model import State

    found: dict[str, dict[str, Any]] = {}
    for platform in sorted({r.provider for r in state.resources.values()}):
        # One platform at a time: the local resources' status needs no Lepton credentials, and
        # one platform that cannot be read does not hide the others.
        only = State(
            lineage=state.lineage,
            serial=state.serial,
            resources={a: r for a, r in state.resources.items() if r.provider == platform},
        )
        try:
            observed = refresh_state(only, ctx.providers_for({platform}))
        except NimctlError as err:
            ctx.ui.warn(f"{platform} was not read; its resources show their recorded states")
            unread.append(err)
            continue
        found.update(observed.live_summary())
    return found


def run_status(ctx: RunContext, invocation: str | None, *, json_output: bool) -> int:
    import json

    from nimctl.apply.destroy import resolve_invocation

    state = ctx.store.read()
    chosen = (
        [resolve_invocation(state, invocation)]
        if invocation
        else sorted(state.invocations, key=lambda i: state.invocations[i].started_at)
    )
    unread: list[NimctlError] = []
    live = _live_states(ctx, state, unread)
    from nimctl.config.prices import load_prices

    prices = load_prices()
    report: list[dict[str, Any]] = []
    for inv_id in chosen:
        inv = state.invocations[inv_id]
        status: str = inv.status
        if not inv.status.finished and ctx.store.lock_holder() is None:
            # An apply holds the lock while it runs: nobody holds it, so its process died.
            status = "interrupted (its nimctl process ended; the next apply or destroy finishes it)"
        resources = []
        for address, record in sorted(state.resources.items()):
            if record.invocation_id != inv_id and address not in inv.created:
                continue
            now_state = live.get(address, {})
            item = {
                "address": address,
                "type": record.type,
                "name": record.name,
                "provider": record.provider,
                "state": now_state.get("state", record.observed.get("state", "unknown")),
                "platform_state": now_state.get("platform_state", record.observed.get("platform_state")),
                "url": now_state.get("url", record.observed.get("url")),
            }
            if record.type == "endpoint" and record.provider == "lepton" and item["state"] != "gone":
                item["cost_so_far"] = _endpoint_cost_so_far(record, now_state, prices)
            resources.append(item)
        report.append(
            {
                "id": inv_id,
                "command": inv.command,
                "status": status,
                "started_at": inv.started_at,
                "finished_at": inv.finished_at,
                "error": inv.error,
                "resources": resources,
                "job_results": inv.job_results,
            }
        )
    if json_output:
        ctx.ui.print(json.dumps({"state": state_info(ctx, state), "invocations": report}, indent=2))
        if unread:
            raise unread[0]  # shown in full, after everything that could be read
        return 0
    ctx.ui.print(state_banner(ctx, state))
    if not report:
        ctx.ui.print("No invocations recorded.")
        from nimctl.apply.gc import untracked

        unknown = untracked(state, ctx.providers_for({"lepton", "local"}))
        if unknown:
            from nimctl.cli.context import untracked_text

            ctx.ui.print(untracked_text(unknown))
        return 0
    from nimctl.plan.cost import so_far_text

    for item in report:
        ctx.ui.print(
            f"Invocation {item['id']}  {item['command']}  {item['status']}"
            + (f"  ({item['error']})" if item["error"] else "")
        )
        if item["resources"]:
            ctx.ui.table(
                ["address", "name", "state", "url", "cost so far"],
                [
                    [
                        r["address"],
                        r["name"],
                        r["platform_state"] or r["state"],
                        r["url"] or "",
                        so_far_text(r["cost_so_far"]) if r.get("cost_so_far") else "",
                    ]
                    for r in item["resources"]
                ],
            )
        ctx.ui.print("")
    if prices is None and any(r.get("cost_so_far") for i in report for r in i["resources"]):
        from nimctl.config.prices import HOW_TO_ADD

        ctx.ui.print(f"(no price table: {HOW_TO_ADD})")
    if unread:
        raise unread[0]  # shown in full, after everything that could be read
    return 0


def _endpoint_cost_so_far(record: Any, live: dict[str, Any], prices: Any) -> dict[str, Any]:
    from nimctl.plan.cost import cost_so_far

    requirement = record.spec.get("resource_requirement") or {}
    replicas = live.get("ready_replicas")
    if not isinstance(replicas, int):
        replicas = record.observed.get("ready_replicas")
    if not isinstance(replicas, int):
        replicas = int(requirement.get("min_replicas") or 0)
    return cost_so_far(
        shape=str(requirement.get("resource_shape") or ""),
        replicas=replicas,
        created_at=live.get("created_at") or record.created_at,
        prices=prices,
    )
