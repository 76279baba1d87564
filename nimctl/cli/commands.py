"""The read-only commands: plan, status, results, logs, show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from nimctl.cli.context import RunContext, load_stacks, state_banner, state_info
from nimctl.common.errors import NimctlError
from nimctl.providers.base import JobState, NotFound

if TYPE_CHECKING:
    from nimctl.results.store import ResultLogReader


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
    from nimctl.plan import make_plan
    from nimctl.plan import refresh as refresh_state
    from nimctl.plan.actions import scope_of

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


def _live_states(ctx: RunContext, state: Any, unread: list[NimctlError]) -> dict[str, dict[str, Any]]:
    """One listing per provider and kind: address → {state, platform_state, url}. A platform that
    cannot be read adds its error to ``unread``; the others are still read."""
    from nimctl.plan import refresh as refresh_state
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
        status = inv.status
        if status == "running" and ctx.store.lock_holder() is None:
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


def run_results(ctx: RunContext, invocation: str, *, json_output: bool) -> int:
    from nimctl.apply.destroy import resolve_invocation
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


def run_logs(ctx: RunContext, invocation: str, *, task: str | None, endpoint: bool, lines: int) -> int:
    from nimctl.apply.destroy import resolve_invocation

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


def run_show(ctx: RunContext, *, json_output: bool) -> int:
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
    from nimctl.plan.cost import so_far_text
    from nimctl.stack.ownership import human_age

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
                human_age(f.age_s) if f.age_s is not None else "?",
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
