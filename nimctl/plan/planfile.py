"""Saved plans (``nimctl plan --out FILE`` → ``nimctl apply FILE``).

A plan file (JSON, mode 0600, written atomically) holds:

- the plan itself (actions, reasons, redacted before/after);
- the desired resources, **redacted**: a plan file never contains a literal secret. When the
  config holds literal values (an ``api_tokens`` value, a secret-looking env value), the plan
  records that it ``needs_config``; applying it re-reads the recorded config files and overrides
  and refuses unless the rebuilt resources redact to exactly what was saved (the salted
  fingerprints make a changed token visible without storing it). Plans without literal secrets
  are self-contained and apply even if the config files changed or moved since;
- the state's lineage and serial, a digest of each state record, and fingerprints of the live
  objects refresh observed.

Applying refuses a stale plan (``StalePlanError``, naming the resource): another state file, a
state written since (other than by settling the very journal entries the plan showed), a live
object that changed, or a config that no longer matches.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nimctl.common.errors import NimctlError
from nimctl.common.files import write_atomic
from nimctl.common.secrets import SECRET_ENV_NAME, is_redacted
from nimctl.plan.actions import Action, Plan, ResourceChange
from nimctl.plan.canonical import digest
from nimctl.plan.refresh import Observed
from nimctl.stack.resources import Stack
from nimctl.state.model import ResourceRecord, State

PLAN_FILE_KIND = "nimctl-plan"
PLAN_FILE_VERSION = 1
STALE_HINT = "run `nimctl plan --out FILE` again and apply the new plan"

StackLoader = Callable[[list[str], list[str]], list[Stack]]


class StalePlanError(NimctlError):
    """The saved plan no longer describes what apply would do. ``resource`` names the cause."""

    def __init__(self, message: str, *, resource: str | None = None, hint: str | None = STALE_HINT) -> None:
        super().__init__(message, hint)
        self.resource = resource


# -- redaction of desired resources ----------------------------------------------------------------


def redact_stack(stack: Stack, salt: str) -> dict[str, Any]:
    """``Stack.to_dict`` with every literal secret replaced by its salted fingerprint."""
    from nimctl.stack.builder import redact_stack_dict

    return redact_stack_dict(stack, salt)


def literal_secrets(stacks: Iterable[Stack]) -> list[str]:
    """Every literal secret value the stacks hold (what must never reach a plan file)."""
    found: list[str] = []

    def from_spec(spec: dict[str, Any]) -> None:
        found.extend(
            t["value"] for t in spec.get("api_tokens") or [] if isinstance(t, dict) and isinstance(t.get("value"), str)
        )
        found.extend(
            e["value"]
            for e in spec.get("envs") or []
            if isinstance(e, dict)
            and isinstance(e.get("value"), str)
            and SECRET_ENV_NAME.search(str(e.get("name", "")))
        )
        env = spec.get("env")
        if isinstance(env, dict):
            found.extend(v for k, v in env.items() if isinstance(v, str) and SECRET_ENV_NAME.search(k))
        if isinstance(spec.get("api_key"), str):
            found.append(spec["api_key"])

    for stack in stacks:
        if stack.endpoint:
            from_spec(stack.endpoint.spec)
            if stack.endpoint.probe_token and stack.endpoint.probe_token.literal:
                found.append(stack.endpoint.probe_token.literal)
        for job in stack.jobs:
            from_spec(job.spec_template)
    return sorted({v for v in found if v and not is_redacted(v)})


def _desired_items(redacted_stacks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    for stack in redacted_stacks:
        if stack.get("endpoint"):
            items[f"endpoint.{stack['endpoint']['name']}"] = stack["endpoint"]
        for job in stack["jobs"]:
            items[f"job.{job['stack']}.{job['task']}"] = job
        rest = {k: v for k, v in stack.items() if k not in ("endpoint", "jobs")}
        items[f"stack.{stack['name']}"] = rest
    return items


def desired_digests(stacks: list[Stack], salt: str) -> dict[str, str]:
    """address (and ``stack.<name>`` for stack settings) -> digest of its redacted desired form."""
    return {a: digest(d) for a, d in sorted(_desired_items([redact_stack(s, salt) for s in stacks]).items())}


def record_digest(record: ResourceRecord) -> str:
    """What a state record says was applied (its live observation excluded)."""
    return digest(
        {
            "provider": record.provider,
            "name": record.name,
            "platform_id": record.platform_id,
            "spec": record.spec,
            "inputs_hash": record.inputs_hash,
            "invocation_id": record.invocation_id,
        }
    )


def state_digests(state: State) -> dict[str, str]:
    return {a: record_digest(r) for a, r in sorted(state.resources.items())}


# -- the saved plan ------------------------------------------------------------------------------


@dataclass
class SavedPlan:
    path: str
    plan: Plan
    lineage: str
    serial: int
    refreshed: bool
    targets: list[str]
    config_files: list[str]
    overrides: list[str]
    needs_config: bool  # literal secrets: the config must be re-read to apply
    stacks_redacted: list[dict[str, Any]]
    desired_digests: dict[str, str]
    state_digests: dict[str, str]
    pending_ids: list[str]
    fingerprints: dict[str, str]
    stacks: list[Stack] = field(default_factory=list)  # usable desired resources (after load)


def save_plan(
    path: str | os.PathLike[str],
    plan: Plan,
    stacks: list[Stack],
    state: State,
    observed: Observed | None,
    *,
    config_files: Iterable[str] = (),
    overrides: Iterable[str] = (),
) -> None:
    """Write ``plan`` to ``path`` (mode 0600, atomically). Never writes a literal secret."""
    if plan.lineage != state.lineage or plan.serial != state.serial:
        raise NimctlError("internal: the plan was made from a different state than the one given")
    salt = state.lineage
    redacted = [redact_stack(s, salt) for s in sorted(stacks, key=lambda s: s.name)]
    secrets = literal_secrets(stacks)
    document = {
        "kind": PLAN_FILE_KIND,
        "version": PLAN_FILE_VERSION,
        "lineage": state.lineage,
        "serial": state.serial,
        "refreshed": observed is not None,
        "targets": list(plan.targets),
        "config": {
            "files": [str(Path(f).resolve()) for f in config_files],
            "overrides": list(overrides),
            "needs_config": bool(secrets),
        },
        "desired": {"stacks": redacted, "digests": {a: digest(d) for a, d in sorted(_desired_items(redacted).items())}},
        "state": {"digests": state_digests(state), "pending": sorted(p.id for p in state.pending)},
        "fingerprints": observed.fingerprints() if observed else {},
        "plan": plan.to_dict(),
    }
    text = json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False)
    leaked = [s for s in secrets if s in text]
    if leaked:  # a bug guard: redaction above must have removed every literal
        raise NimctlError("internal: refusing to write a plan file that would contain a secret value")
    _write_private(Path(path), text + "\n")


def _write_private(path: Path, text: str) -> None:
    write_atomic(path, text, mode=0o600)


def read_plan_file(path: str | os.PathLike[str]) -> SavedPlan:
    """Parse a plan file (no staleness check, no config re-read)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NimctlError(f"plan file {path} does not exist", hint="save one with `nimctl plan --out FILE`") from None
    except OSError as err:
        raise NimctlError(f"cannot read plan file {path}: {err.strerror}") from None
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict) or doc.get("kind") != PLAN_FILE_KIND:
        raise NimctlError(
            f"{path} is not a nimctl plan file",
            hint="give a file written by `nimctl plan --out FILE`, or configs with -f",
        )
    if doc.get("version") != PLAN_FILE_VERSION:
        raise NimctlError(
            f"plan file {path} has format version {doc.get('version')}, this nimctl reads version {PLAN_FILE_VERSION}",
            hint=STALE_HINT,
        )
    try:
        plan = Plan.from_dict(doc["plan"])
        return SavedPlan(
            path=str(path),
            plan=plan,
            lineage=doc["lineage"],
            serial=int(doc["serial"]),
            refreshed=bool(doc["refreshed"]),
            targets=list(doc.get("targets", ())),
            config_files=list(doc["config"]["files"]),
            overrides=list(doc["config"]["overrides"]),
            needs_config=bool(doc["config"]["needs_config"]),
            stacks_redacted=doc["desired"]["stacks"],
            desired_digests=dict(doc["desired"]["digests"]),
            state_digests=dict(doc["state"]["digests"]),
            pending_ids=list(doc["state"]["pending"]),
            fingerprints=dict(doc["fingerprints"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        # Edited by hand or cut short: a plan file is only ever applied as nimctl wrote it.
        missing = f"missing {err}" if isinstance(err, KeyError) else "a field of the wrong type"
        raise NimctlError(f"plan file {path} is damaged ({missing})", hint=STALE_HINT) from None


def _default_loader(files: list[str], overrides: list[str]) -> list[Stack]:
    """The recorded configs read again (their warnings were shown when the plan was made)."""
    from nimctl.config.loader import load_configs
    from nimctl.stack.builder import build_stacks

    return build_stacks(load_configs(files, overrides))


def load_plan_file(
    path: str | os.PathLike[str], *, reload: StackLoader | None = None, stacks: list[Stack] | None = None
) -> SavedPlan:
    """Read a plan file and give it usable desired resources (``SavedPlan.stacks``).

    ``stacks`` (already rebuilt by the caller) or, when the plan ``needs_config``, the recorded
    config files re-read through ``reload`` (default: nimctl's config loader) must redact to exactly
    what was saved; otherwise ``StalePlanError`` names the resource whose config changed. A plan
    without literal secrets is self-contained.
    """
    saved = read_plan_file(path)
    if stacks is None and saved.needs_config:
        missing = [f for f in saved.config_files if not Path(f).exists()]
        if missing:
            raise StalePlanError(
                f"the plan's config holds literal secrets, which plan files never store, and "
                f"its config file {missing[0]} is gone",
                hint="restore the file, or move the secret into a secret reference (value_from) and plan again",
            )
        stacks = (reload or _default_loader)(saved.config_files, saved.overrides)
    if stacks is not None:
        check_desired(saved, stacks)
        saved.stacks = list(stacks)
    else:
        saved.stacks = [Stack.from_dict(s) for s in saved.stacks_redacted]
    saved.plan.desired = {
        a: d
        for s in saved.stacks
        for d in ([s.endpoint] if s.endpoint else []) + list(s.jobs)
        for a in [d.address]
        if saved.plan.change(a) is not None
    }
    return saved


def check_desired(saved: SavedPlan, stacks: list[Stack]) -> None:
    """The config as re-read must be the one the plan was made from (compared redacted)."""
    now = desired_digests(stacks, saved.lineage)
    for address in sorted(set(now) | set(saved.desired_digests)):
        before, after = saved.desired_digests.get(address), now.get(address)
        if before == after:
            continue
        what = (
            "is no longer in the config"
            if after is None
            else "was added to the config"
            if before is None
            else "changed in the config"
        )
        raise StalePlanError(f"saved plan is stale: {address} {what} since the plan was made", resource=address)


# -- staleness -----------------------------------------------------------------------------------


def _empty(state: State) -> bool:
    return state.serial == 0 and not state.resources and not state.pending and not state.invocations


def _check_state(saved: SavedPlan, state: State) -> None:
    if state.lineage != saved.lineage:
        planned_on_nothing = saved.serial == 0 and not saved.state_digests and not saved.pending_ids
        if planned_on_nothing and _empty(state):
            return  # planned before any state file existed, applied to the first one: nothing to be stale
        if planned_on_nothing:
            culprit = min(state.resources, default=None)
            raise StalePlanError(
                "saved plan is stale: it was made when there was no state yet, and the state has "
                f"been written since (serial {state.serial})" + (f"; {culprit} is recorded now" if culprit else ""),
                resource=culprit,
            )
        raise StalePlanError(
            f"saved plan is stale: it is for another state file (lineage {saved.lineage}); "
            f"this state's lineage is {state.lineage}"
        )
    if state.serial == saved.serial:
        return
    now = state_digests(state)
    settled = {p.address for p in saved.plan.pending}
    changed = sorted(a for a in set(now) | set(saved.state_digests) if now.get(a) != saved.state_digests.get(a))
    unexpected = [a for a in changed if a not in settled]
    new_pending = sorted(p.address for p in state.pending if p.id not in saved.pending_ids)
    if unexpected or new_pending:
        culprit = (unexpected or new_pending)[0]
        raise StalePlanError(
            f"saved plan is stale: the state changed since the plan was made (serial "
            f"{saved.serial} -> {state.serial}); {culprit} is recorded differently now",
            resource=culprit,
        )
    if not settled:
        raise StalePlanError(
            f"saved plan is stale: the state was written since the plan was made (serial "
            f"{saved.serial} -> {state.serial})"
        )


def check_plan_state(saved: SavedPlan, state: State) -> None:
    """Refuse a saved plan made for another state file, or before this state was written: the part
    of the staleness check that needs no platform call, so it runs before any."""
    _check_state(saved, state)


def _check_live(saved: SavedPlan, observed: Observed | None) -> None:
    if not saved.refreshed:
        return
    if observed is None:
        raise NimctlError("the saved plan was made with a refresh; applying it needs one too")
    now = observed.fingerprints()
    pending_address = {f"pending:{p.entry_id}": p.address for p in saved.plan.pending}
    for key, before in sorted(saved.fingerprints.items()):
        after = now.get(key)
        if after is None and key in pending_address:  # settled since: compare with the resource it became
            after = now.get(pending_address[key], before)
        if after is None:
            continue  # no longer observed: the state check decides about it
        if after != before:
            address = pending_address.get(key, key)
            raise StalePlanError(
                f"saved plan is stale: {address} changed on the platform since the plan was made", resource=address
            )


def _verb(change: ResourceChange | None) -> str:
    if change is None or not change.action.is_change:
        return "leave"
    return "run" if change.type == "job" and change.action.creates else change.action.value


def _check_actions(saved: SavedPlan, fresh: Plan) -> None:
    fresh_by_address = {c.address: c for c in fresh.resource_changes}
    saved_by_address = {c.address: c for c in saved.plan.resource_changes}
    for address in sorted(set(saved_by_address) | set(fresh_by_address)):
        old, new = saved_by_address.get(address), fresh_by_address.get(address)
        if (old.action if old else Action.NOOP) is not (new.action if new else Action.NOOP):
            raise StalePlanError(
                f"saved plan is stale: it would {_verb(old)} {address}, but now nimctl would {_verb(new)} it",
                resource=address,
            )
        if old and new and [f.to_dict() for f in old.changed_fields] != [f.to_dict() for f in new.changed_fields]:
            raise StalePlanError(
                f"saved plan is stale: the changes to {address} differ from the saved plan", resource=address
            )


def check_plan_fresh(
    plan_file: str | os.PathLike[str] | SavedPlan, plan: Plan | None, state: State, observed: Observed | None
) -> None:
    """Refuse a stale saved plan: another state, a state written since, a live object changed since,
    or — given ``plan``, a fresh plan from the saved desired resources and the same targets — any
    resource whose actions or changed fields now differ."""
    saved = plan_file if isinstance(plan_file, SavedPlan) else read_plan_file(plan_file)
    _check_state(saved, state)
    _check_live(saved, observed)
    if plan is not None:
        _check_actions(saved, plan)


def load_plan(
    path: str | os.PathLike[str],
    state: State,
    observed: Observed | None,
    *,
    stacks: list[Stack] | None = None,
    reload: StackLoader | None = None,
) -> Plan:
    """The saved plan, checked against ``state`` and ``observed`` (a fresh refresh); raises
    ``StalePlanError`` naming what changed. The returned plan carries its desired resources
    (``plan.desired``) with literal secrets restored from the re-read config when needed."""
    saved = load_plan_file(path, reload=reload, stacks=stacks)
    check_plan_fresh(saved, None, state, observed)
    return saved.plan
