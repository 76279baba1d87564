"""Fixed plans (``SCENARIOS``: create, update/replace/delete, drift and pending, no changes, five
tasks) for the plan rendering, plan file, golden, schema and secret tests, and ``PLANTED``, a
literal secret planted in them that must never be printed or stored."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from nimctl.common.secrets import redact_spec
from nimctl.plan.actions import Plan, make_plan
from nimctl.plan.refresh import refresh
from nimctl.providers.base import JobState
from nimctl.state.model import PendingEntry, State
from nimctl.state.records import endpoint_spec_hash
from tests.support.factories import endpoint_info, stack
from tests.support.memory import applied_state

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LINEAGE = "0123456789abcdef0123456789abcdef"
PLANTED = "PLANTED-SECRET-7f3a9c41d2"  # a literal token that must never be printed or stored


def _applied(*stacks, job_state=JobState.SUCCEEDED):
    return applied_state(*stacks, job_state=job_state, lineage=LINEAGE)


def create() -> Plan:
    return make_plan([stack("llama", ("ifeval", "gsm8k"), token=PLANTED)], State(lineage=LINEAGE), None, salt=LINEAGE)


def update_replace_delete() -> Plan:
    state, platform = _applied(
        stack("llama", ("ifeval",), token=PLANTED), stack("qwen", ("mmlu",)), stack("old", ("ifeval",))
    )
    desired = [
        stack("llama", ("ifeval",), token=PLANTED + "-rotated", max_replicas=5),
        stack("qwen", ("mmlu",), image="nvcr.io/nim/qwen/qwen2.5-7b-instruct:1.0.0"),
    ]
    return make_plan(desired, state, refresh(state, {"lepton": platform}), salt=LINEAGE, prune=True)


def drift_and_pending() -> Plan:
    llama = stack("llama", ("ifeval", "gsm8k"), token=PLANTED)
    qwen = stack("qwen", ("mmlu",))
    state, platform = _applied(llama, qwen, job_state=JobState.FAILED)
    live = platform.endpoints["llama-ep"]
    spec = {**live.spec, "resource_requirement": {**live.spec["resource_requirement"], "min_replicas": 0}}
    platform.endpoints["llama-ep"] = dataclasses.replace(live, spec=spec)
    del platform.endpoints["qwen-ep"]
    new = stack("mistral", ("ifeval",))
    redacted = redact_spec(new.endpoint.spec, LINEAGE)
    state.pending.append(
        PendingEntry(
            id="entry-1",
            op="create",
            address=new.endpoint.address,
            type="endpoint",
            provider="lepton",
            name=new.endpoint.name,
            invocation_id="feedfacefeedface",
            stack="mistral",
            spec=redacted,
            inputs_hash=endpoint_spec_hash(redacted),
            started_at=1.0,
        )
    )
    platform.add_endpoint(endpoint_info(new.endpoint, owner=(state.lineage, "feedfacefeedface")))
    return make_plan([llama, qwen, new], state, refresh(state, {"lepton": platform}), salt=LINEAGE)


def no_changes() -> Plan:
    s = stack("llama", ("ifeval",))
    state, platform = _applied(s)
    return make_plan([s], state, refresh(state, {"lepton": platform}), salt=LINEAGE)


def five_tasks(*overrides: str) -> Plan:
    """The five-task example as a user first plans it: one endpoint, five harness jobs built by
    the real stack builder (so the runner script and run configs are the shipped ones)."""
    from nimctl.cli.context import load_stacks
    from nimctl.cli.ui import UI

    stacks = load_stacks([str(EXAMPLES / "lepton_multi_task.yaml")], list(overrides), UI(quiet=True))
    return make_plan(stacks, State(lineage=LINEAGE), None, salt=LINEAGE)


SCENARIOS = {
    "create": create,
    "update_replace_delete": update_replace_delete,
    "drift_and_pending": drift_and_pending,
    "no_changes": no_changes,
    "five_tasks": five_tasks,
}
