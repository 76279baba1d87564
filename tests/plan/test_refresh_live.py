"""Refresh and plan against real providers: the Lepton provider through the real SDK against the
emulator over HTTP, and the local provider with real processes."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import leptonai.api.v2.client  # noqa: F401  (imported at collection, before any emulator thread imports it too)
import pytest

from nimctl.cli.context import load_stacks
from nimctl.cli.ui import UI
from nimctl.common.secrets import redact_spec
from nimctl.plan.actions import make_plan
from nimctl.plan.refresh import refresh
from nimctl.plan.render import render_text
from nimctl.providers.lepton.provider import LeptonProvider
from nimctl.providers.retry import RetryPolicy
from nimctl.stack import ownership
from nimctl.stack.builder import render_job_spec
from nimctl.stack.resources import DesiredEndpoint, DesiredJob, Stack
from nimctl.state.model import PendingEntry, State
from nimctl.state.records import endpoint_spec_hash, record_endpoint, record_job

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SEED = EXAMPLES / "lepton_nim_seed_example.yaml"
INVOCATION = "a1b2c3d4e5f60718"
FAST_RETRY = RetryPolicy(max_attempts=5, base_delay=0.001, max_delay=0.01, max_total_s=10)


def seed_stack(tmp_path: Path) -> Stack:
    (stack,) = load_stacks([str(SEED)], [f"execution.output_dir={tmp_path / 'results'}"], UI(quiet=True))
    return stack


def clone(stack: Stack, index: int) -> Stack:
    """The same stack under another name (its endpoint and job addresses change with it)."""
    name = f"s{index:03d}"
    ep = dataclasses.replace(stack.endpoint, stack=name, name=f"ep-{index:03d}")
    jobs = tuple(dataclasses.replace(j, stack=name, endpoint=ep.name) for j in stack.jobs)
    return dataclasses.replace(stack, name=name, endpoint=ep, jobs=jobs)


def apply_with(provider, plan, state: State) -> None:
    """What a successful apply records, through the real provider calls."""
    salt, urls = state.lineage, {}
    for change in plan.changes:
        desired = plan.desired.get(change.address)
        if isinstance(desired, DesiredEndpoint) and change.actions[-1] in ("create", "update"):
            call = provider.create_endpoint if change.actions[-1] == "create" else provider.update_endpoint
            info = call(desired.name, desired.spec)
            record_endpoint(state, desired, info, invocation_id=INVOCATION, salt=salt)
            urls[desired.name] = info.url or "https://pending.invalid"
    for change in plan.changes:
        desired = plan.desired.get(change.address)
        if isinstance(desired, DesiredJob) and change.actions[-1] == "create":
            url = urls.get(desired.endpoint) or state.resources[f"endpoint.{desired.endpoint}"].observed.get("url")
            name, spec = render_job_spec(desired, invocation_id=INVOCATION, endpoint_url=url)
            info = provider.submit_job(name, spec)
            record_job(state, desired, info, invocation_id=INVOCATION, salt=salt, spec=spec)


def settled_requests(emulator) -> list:
    time.sleep(0.05)  # the emulator logs a request just after answering it
    return emulator.requests


@pytest.fixture
def lepton(emulator) -> LeptonProvider:
    provider = LeptonProvider(
        workspace_id=emulator.workspace_id, token=emulator.token, url=emulator.url, retry=FAST_RETRY
    )
    from leptonai.api.v2.types.secret import SecretItem

    # the secrets the seed example references; without them its endpoint and jobs fail
    provider.client.secret.create(
        [
            SecretItem(name="HUGGING_FACE_HUB_TOKEN", value="hf-test-value"),
            SecretItem(name="ENDPOINT_API_KEY", value="endpoint-test-key"),
        ]
    )
    return provider


def test_seed_example_apply_then_refreshing_plan_is_a_no_op(lepton, emulator, tmp_path):
    stack, state = seed_stack(tmp_path), State()
    first = make_plan([stack], state, refresh(state, {"lepton": lepton}), salt=state.lineage)
    assert [(c.address, c.actions) for c in first.changes] == [
        ("endpoint.llama-3-1-8b", ["create"]),
        ("job.llama-3-1-8b.ifeval", ["create"]),
    ]
    apply_with(lepton, first, state)

    observed = refresh(state, {"lepton": lepton})
    plan = make_plan([stack], state, observed, salt=state.lineage)
    assert plan.drift == []
    assert [c.actions for c in plan.changes] == [["no-op"], ["no-op"]], render_text(plan)
    assert observed.resources["endpoint.llama-3-1-8b"].status == "unchanged"


def test_drift_and_out_of_band_delete_against_the_emulator(lepton, emulator, tmp_path):
    stack, state = seed_stack(tmp_path), State()
    apply_with(lepton, make_plan([stack], state, None, salt=state.lineage), state)
    name = stack.endpoint.name

    from leptonai.api.v2.types.deployment import LeptonDeployment, LeptonDeploymentUserSpec, ResourceRequirement

    # someone scales it with the SDK, as `lep endpoint update --replicas-static 2` does
    lepton.client.deployment.update(
        name,
        LeptonDeployment(
            spec=LeptonDeploymentUserSpec(resource_requirement=ResourceRequirement(min_replicas=2, max_replicas=2))
        ),
    )
    plan = make_plan([stack], state, refresh(state, {"lepton": lepton}), salt=state.lineage)
    assert [(f.path, f.old, f.new) for f in plan.drift[0].fields] == [
        ("resource_requirement.max_replicas", 3, 2),
        ("resource_requirement.min_replicas", 1, 2),
    ]
    assert plan.change(f"endpoint.{name}").actions == ["update"]
    text = render_text(plan)
    assert "Changed outside nimctl:" in text and "resource_requirement.max_replicas = 2 -> 3" in text

    lepton.delete_endpoint(name)
    deadline = time.monotonic() + 10
    while any(e.name == name for e in lepton.list_endpoints()) and time.monotonic() < deadline:
        time.sleep(0.02)
    plan = make_plan([stack], state, refresh(state, {"lepton": lepton}), salt=state.lineage)
    assert plan.change(f"endpoint.{name}").actions == ["create"]
    assert [(d.address, d.status) for d in plan.drift] == [(f"endpoint.{name}", "deleted")]


def test_interrupted_create_is_found_live_and_adopted(lepton, emulator, tmp_path):
    stack, state = seed_stack(tmp_path), State()
    ep = stack.endpoint
    spec = redact_spec(ep.spec, state.lineage)
    state.pending.append(
        PendingEntry(
            id="e1",
            op="create",
            address=ep.address,
            type="endpoint",
            provider="lepton",
            name=ep.name,
            invocation_id=INVOCATION,
            stack=stack.name,
            spec=spec,
            inputs_hash=endpoint_spec_hash(spec),
        )
    )
    # The call went through, with its ownership marker; the process died before recording it.
    marker = ownership.Marker.new(lineage=state.lineage, state="file:/x", stack=stack.name, invocation=INVOCATION)
    lepton.create_endpoint(ep.name, ownership.mark(ep.spec, marker, local_spec=False))
    plan = make_plan([stack], state, refresh(state, {"lepton": lepton}), salt=state.lineage)
    assert [p.resolution for p in plan.pending] == ["adopt"]
    assert plan.change(ep.address).actions == ["no-op"]
    assert "interrupted run left unfinished operations" in render_text(plan).lower()


def _refresh_requests(emulator, lepton, state: State) -> tuple[int, float, object]:
    lepton.list_endpoints()  # warm up: the SDK reads /workspace once per client
    settled_requests(emulator)
    emulator.clear_requests()
    started = time.perf_counter()
    observed = refresh(state, {"lepton": lepton})
    elapsed = time.perf_counter() - started
    return len(settled_requests(emulator)), elapsed, observed


def test_refresh_requests_do_not_grow_with_resources(lepton, emulator, tmp_path, capsys):
    base = seed_stack(tmp_path)
    one_state, many_state = State(), State()
    one = [clone(base, 0)]
    apply_with(lepton, make_plan(one, one_state, None, salt=one_state.lineage), one_state)
    count_one, _, _ = _refresh_requests(emulator, lepton, one_state)

    many = [clone(base, i) for i in range(1, 61)]  # 60 endpoints + 60 jobs = 120 resources
    apply_with(lepton, make_plan(many, many_state, None, salt=many_state.lineage), many_state)
    count_many, elapsed, observed = _refresh_requests(emulator, lepton, many_state)
    started = time.perf_counter()
    plan = make_plan(many, many_state, observed, salt=many_state.lineage)
    planning = time.perf_counter() - started

    assert len(many_state.resources) == 120
    assert count_one == count_many == 3  # GET /deployments + one page of jobs + the empty page ending it
    assert observed.requests == {"lepton.list_endpoints": 1, "lepton.list_jobs": 1}
    assert not any(c.is_change for c in plan.changes)
    with capsys.disabled():
        sys.stderr.write(
            f"\n[refresh 120 resources: {count_many} requests, refresh {elapsed * 1000:.0f} ms, "
            f"diff+actions {planning * 1000:.0f} ms]\n"
        )


def test_completed_jobs_are_not_listed_and_unused_providers_are_not_touched(lepton, emulator, tmp_path):
    stack, state = seed_stack(tmp_path), State()
    apply_with(lepton, make_plan([stack], state, None, salt=state.lineage), state)
    for record in state.resources.values():
        if record.type == "job":
            record.observed["state"] = "succeeded"
    created: list[str] = []

    def factory(platform: str):
        created.append(platform)
        return lepton

    lepton.list_endpoints()
    settled_requests(emulator)
    emulator.clear_requests()
    observed = refresh(state, factory)
    routes = [r.route for r in settled_requests(emulator)]
    assert routes == ["/deployments"]
    assert created == ["lepton"] and observed.providers == ("lepton",)
    assert refresh(State(), factory).providers == () and created == ["lepton"]


def test_unreachable_platform_is_a_clear_error(lepton, emulator, tmp_path):
    from nimctl.plan.refresh import RefreshError

    stack, state = seed_stack(tmp_path), State()
    apply_with(lepton, make_plan([stack], state, None, salt=state.lineage), state)
    impatient = LeptonProvider(
        workspace_id=emulator.workspace_id,
        token=emulator.token,
        url=emulator.url,
        retry=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.01, max_total_s=3),
    )
    impatient.list_endpoints()
    emulator.configure(fault_rate=1.0)  # every request answered 429 or 5xx
    with pytest.raises(RefreshError) as info:
        refresh(state, {"lepton": impatient})
    assert "could not list endpoints on lepton" in info.value.message
    assert "--refresh=false" in (info.value.hint or "")


# -- local ---------------------------------------------------------------------------------------


@pytest.fixture
def local(tmp_path):
    from nimctl.providers.local.provider import LocalProvider

    provider = LocalProvider(tmp_path / "state", grace_period=2.0)
    yield provider
    for info in provider.list_endpoints():
        provider.delete_endpoint(info.name)


def test_local_refresh_plan_no_op_then_deleted_then_replaced(local, tmp_path):
    (stack,) = load_stacks(
        [str(EXAMPLES / "local-quickstart.yaml")], [f"execution.output_dir={tmp_path / 'results'}"], UI(quiet=True)
    )
    stack = dataclasses.replace(stack, jobs=())  # the endpoint is what this test is about
    state = State()
    apply_with(local, make_plan([stack], state, refresh(state, {"local": local}), salt=state.lineage), state)

    observed = refresh(state, {"local": local})
    assert observed.requests == {"local.list_endpoints": 1}
    plan = make_plan([stack], state, observed, salt=state.lineage)
    assert [c.actions for c in plan.changes] == [["no-op"]] and plan.drift == []

    changed_spec = {**stack.endpoint.spec, "command": [*stack.endpoint.spec["command"], "--latency-ms", "1"]}
    changed = dataclasses.replace(stack, endpoint=dataclasses.replace(stack.endpoint, spec=changed_spec))
    replace = make_plan([changed], state, observed, salt=state.lineage)
    assert replace.change(stack.endpoint.address).actions == ["delete", "create"]  # local: nothing updates in place

    local.delete_endpoint(stack.endpoint.name)
    plan = make_plan([stack], state, refresh(state, {"local": local}), salt=state.lineage)
    assert plan.change(stack.endpoint.address).actions == ["create"]
    assert [d.status for d in plan.drift] == ["deleted"]
