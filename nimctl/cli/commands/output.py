"""``nimctl output``: values read back from the state, for people and for scripts.

Takes the state; gives, per stack with a recorded endpoint, its outputs (``endpoint`` name,
``url``, ``model_id``, ``platform``, ``invocation``). Nothing is refreshed and no platform is
called; the records hold redacted specs only, so nothing secret can be printed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from nimctl.cli.common import fail, run_context
from nimctl.cli.context import RunContext
from nimctl.common import job_vars
from nimctl.common.errors import NimctlError

if TYPE_CHECKING:
    from nimctl.state.model import ResourceRecord, State

MODEL_ENV_NAMES = ("SERVED_MODEL_NAME", "NIM_SERVED_MODEL_NAME", "NIM_MODEL_NAME", job_vars.MODEL_ID)


def output(
    name: str = typer.Argument(None, help="STACK, or STACK.KEY for one value (endpoint, url, model_id, ...)."),
    json_output: bool = typer.Option(False, "--json", help="As JSON."),
) -> None:
    """Endpoint URLs and model ids from the state, for people and scripts (no platform call)."""
    ctx = run_context()
    try:
        raise typer.Exit(run_output(ctx, name, json_output=json_output))
    except NimctlError as err:
        fail(err, ctx.ui)


def _env_value(spec: dict[str, Any], names: tuple[str, ...]) -> str | None:
    """The first of ``names`` set in a spec's env (Lepton: ``envs`` list; local: ``env`` map)."""
    found: dict[str, Any] = dict(spec.get("env") or {}) if isinstance(spec.get("env"), dict) else {}
    for item in spec.get("envs") or []:
        if isinstance(item, dict) and "value" in item:
            found.setdefault(str(item.get("name")), item["value"])
    return next((str(found[n]) for n in names if isinstance(found.get(n), str) and found[n]), None)


def model_id(state: State, endpoint: ResourceRecord) -> str | None:
    """The model the endpoint serves: from its spec, else from a job of its stack."""
    direct = _env_value(endpoint.spec, MODEL_ENV_NAMES)
    if direct:
        return direct
    for record in state.resources.values():
        if record.type == "job" and record.stack == endpoint.stack:
            found = _env_value(record.spec, (job_vars.MODEL_ID,))
            if found:
                return found
    return None


def outputs(state: State) -> dict[str, dict[str, Any]]:
    """stack name -> its outputs, for every recorded endpoint."""
    result: dict[str, dict[str, Any]] = {}
    for _, record in sorted(state.resources.items()):
        if record.type != "endpoint":
            continue
        result[record.stack] = {
            "endpoint": record.name,
            "url": record.observed.get("url"),
            "model_id": model_id(state, record),
            "platform": record.provider,
            "invocation": record.invocation_id,
        }
    return result


def run_output(ctx: RunContext, name: str | None, *, json_output: bool) -> int:
    import json

    values = outputs(ctx.store.read())
    if name is None:
        if json_output:
            ctx.ui.print(json.dumps(values, indent=2))
        elif not values:
            ctx.ui.print("No outputs: the state records no endpoint (`nimctl apply` creates them).")
        else:
            for stack, items in values.items():
                for key, item in items.items():
                    ctx.ui.print(f"{stack}.{key} = {json.dumps(item)}")
        return 0
    stack, _, key = name.partition(".")
    if stack not in values or (key and key not in values[stack]):
        known = ", ".join(f"{s}[.{'|'.join(values[s])}]" for s in values) or "none (no endpoint recorded)"
        raise NimctlError(f"no output {name!r} in the state", hint=f"outputs are STACK or STACK.KEY; known: {known}")
    value: Any = values[stack][key] if key else values[stack]
    if json_output:
        ctx.ui.print(json.dumps(value, indent=2))
    elif isinstance(value, dict):
        for k, v in value.items():
            ctx.ui.print(f"{k} = {json.dumps(v)}")
    else:
        ctx.ui.print("" if value is None else str(value))  # raw, for $(nimctl output stack.url)
    return 0
