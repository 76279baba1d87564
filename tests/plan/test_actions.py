"""The planner's decisions, one kind at a time."""

from __future__ import annotations

import dataclasses

import pytest

from nimctl.apply.journal import Journal
from nimctl.apply.recovery import SettleOutcome, settle_pending
from nimctl.common.errors import NimctlError
from nimctl.plan.actions import Action, make_plan
from nimctl.plan.refresh import refresh
from nimctl.providers.base import EndpointInfo, JobState, ResourceState
from nimctl.state.model import PendingEntry, State
from nimctl.state.records import endpoint_spec_hash
from nimctl.state.store import StateStore
from tests.support.factories import endpoint_info, job_info, stack
from tests.support.memory import MemoryPlatform, applied_state


def applied(*stacks, job_state=JobState.SUCCEEDED):
    return applied_state(*stacks, job_state=job_state)


def plan_of(stacks, state, platform=None, **kw):
    desired = [s.endpoint for s in stacks if s.endpoint]
    observed = refresh(state, {"lepton": platform}, desired_endpoints=desired) if platform is not None else None
    return make_plan(stacks, state, observed, salt=state.lineage, **kw)


def actions(plan):
    return {c.address: c.actions for c in plan.changes}


def test_empty_state_creates_endpoint_and_runs_jobs_after_it():
    plan = plan_of([stack("llama", ("ifeval", "gsm8k"))], State())
    assert actions(plan) == {
        "endpoint.llama-ep": ["create"],
        "job.llama.gsm8k": ["create"],
        "job.llama.ifeval": ["create"],
    }
    assert plan.change("job.llama.ifeval").depends_on == ["endpoint.llama-ep"]
    assert plan.change("job.llama.ifeval").name is None  # known after apply
    assert plan.summary["add"] == 1 and plan.summary["run"] == 2


def test_replicas_update_in_place_image_forces_replacement():
    state, platform = applied(stack("llama", ("ifeval",)))
    update = plan_of([stack("llama", ("ifeval",), max_replicas=5)], state, platform)
    change = update.change("endpoint.llama-ep")
    assert change.actions == ["update"]
    assert [(f.path, f.old, f.new, f.forces_replacement) for f in change.changed_fields] == [
        ("resource_requirement.max_replicas", 3, 5, False)
    ]
    assert update.change("job.llama.ifeval").actions == ["no-op"]  # replicas do not change the model

    replace = plan_of([stack("llama", ("ifeval",), image="nim/llama:2.0")], state, platform)
    change = replace.change("endpoint.llama-ep")
    assert change.actions == ["delete", "create"]
    assert [(f.path, f.forces_replacement) for f in change.changed_fields] == [("container.image", True)]
    # the image is a model-affecting input: the job runs again, after the new endpoint
    assert replace.change("job.llama.ifeval").actions == ["create"]
    assert replace.change("job.llama.ifeval").depends_on == ["endpoint.llama-ep"]


@pytest.mark.parametrize(
    ("field_change", "expected"),
    [
        ({"min_replicas": 0}, ["update"]),
        ({"token": "new-literal-token"}, ["update"]),
        ({"extra_envs": {"LOG_LEVEL": "debug"}}, ["delete", "create"]),
    ],
)
def test_update_or_replace_per_field(field_change, expected):
    state, platform = applied(stack("llama", ()))
    plan = plan_of([stack("llama", (), **field_change)], state, platform)
    assert plan.change("endpoint.llama-ep").actions == expected


def test_local_endpoints_replace_on_any_change():
    s = stack("llama", ())
    local = dataclasses.replace(s, platform="local", endpoint=dataclasses.replace(s.endpoint, platform="local"))
    state, _ = applied_state(local)
    s2 = stack("llama", (), max_replicas=5)
    local2 = dataclasses.replace(s2, platform="local", endpoint=dataclasses.replace(s2.endpoint, platform="local"))
    plan = make_plan([local2], state, None, salt=state.lineage)
    assert plan.change("endpoint.llama-ep").actions == ["delete", "create"]


def test_platform_change_replaces():
    state, _ = applied(stack("llama", ()))
    s = stack("llama", ())
    local = dataclasses.replace(s, platform="local", endpoint=dataclasses.replace(s.endpoint, platform="local"))
    change = make_plan([local], state, None, salt=state.lineage).change("endpoint.llama-ep")
    assert change.actions == ["delete", "create"]
    assert "platform changes from lepton to local" in change.reasons


@pytest.mark.parametrize(
    ("job_state", "expected", "reason"),
    [
        (JobState.SUCCEEDED, ["no-op"], "completed with the same inputs"),
        (JobState.FAILED, ["create"], "the last run failed"),
        (JobState.STOPPED, ["create"], "the last run was stopped"),
        (JobState.RUNNING, ["no-op"], "apply waits"),
        (JobState.PENDING, ["no-op"], "apply waits"),
    ],
)
def test_job_outcomes(job_state, expected, reason):
    s = stack("llama", ("ifeval",))
    state, platform = applied(s, job_state=job_state)
    change = plan_of([s], state, platform).change("job.llama.ifeval")
    assert change.actions == expected
    assert any(reason in r for r in change.reasons)


def test_changed_inputs_of_a_running_job_stop_it_and_run_again():
    s = stack("llama", ("ifeval",))
    state, platform = applied(s, job_state=JobState.RUNNING)
    changed = dataclasses.replace(s, jobs=(dataclasses.replace(s.jobs[0], inputs_hash="ffff"),))
    change = plan_of([changed], state, platform).change("job.llama.ifeval")
    assert change.actions == ["delete", "create"]
    assert "inputs changed" in change.reasons[0]


def test_running_job_vanished_from_platform_runs_again():
    s = stack("llama", ("ifeval",))
    state, platform = applied(s, job_state=JobState.RUNNING)
    platform.jobs.clear()
    plan = plan_of([s], state, platform)
    assert plan.change("job.llama.ifeval").actions == ["create"]
    assert [(d.address, d.status) for d in plan.drift] == [("job.llama.ifeval", "deleted")]


def test_running_job_on_a_replaced_endpoint_runs_again_completed_one_does_not():
    s = stack("llama", ("ifeval", "gsm8k"))
    state, platform = applied(s)
    gsm8k = state.resources["job.llama.gsm8k"]
    gsm8k.observed["state"] = "running"
    platform.jobs[gsm8k.platform_id] = dataclasses.replace(platform.jobs[gsm8k.platform_id], state=JobState.RUNNING)
    # a change that forces replacement but does not touch the jobs' inputs hash
    moved = stack("llama", ("ifeval", "gsm8k"), extra_envs={"LOG_LEVEL": "info"})
    moved = dataclasses.replace(moved, jobs=s.jobs)
    plan = plan_of([moved], state, platform)
    assert plan.change("endpoint.llama-ep").actions == ["delete", "create"]
    assert plan.change("job.llama.ifeval").actions == ["no-op"]
    assert plan.change("job.llama.gsm8k").actions == ["delete", "create"]


def test_endpoint_deleted_outside_is_created_again():
    s = stack("llama", ("ifeval",))
    state, platform = applied(s)
    platform.endpoints.clear()
    plan = plan_of([s], state, platform)
    change = plan.change("endpoint.llama-ep")
    assert change.actions == ["create"]
    assert "deleted outside nimctl" in change.reasons[0]
    assert plan.change("job.llama.ifeval").actions == ["no-op"]  # completed: results stand
    assert [(d.address, d.status) for d in plan.drift] == [("endpoint.llama-ep", "deleted")]


def test_drift_in_updatable_field_updates_back_and_server_fields_are_ignored():
    s = stack("llama", ())
    state, platform = applied(s)
    live = platform.endpoints["llama-ep"]
    spec = {
        **live.spec,
        "resource_requirement": {**live.spec["resource_requirement"], "max_replicas": 7},
        "metrics": {"enabled": True},
    }  # metrics: server-populated, not managed
    platform.endpoints["llama-ep"] = dataclasses.replace(live, spec=spec)
    plan = plan_of([s], state, platform)
    assert [(f.path, f.old, f.new) for f in plan.drift[0].fields] == [("resource_requirement.max_replicas", 3, 7)]
    change = plan.change("endpoint.llama-ep")
    assert change.actions == ["update"]
    assert [(f.path, f.old, f.new) for f in change.changed_fields] == [("resource_requirement.max_replicas", 7, 3)]
    assert any("changed outside nimctl" in r for r in change.reasons)


def test_no_refresh_trusts_the_state():
    s = stack("llama", ("ifeval",))
    state, platform = applied(s)
    platform.endpoints.clear()
    plan = make_plan([s], state, None, salt=state.lineage)
    assert not plan.has_changes and not plan.refreshed and plan.drift == []


def test_a_stack_the_configs_do_not_name_is_left_alone():
    state, platform = applied(stack("llama", ("ifeval", "gsm8k")), stack("qwen", ("ifeval",)))
    plan = plan_of([stack("qwen", ("ifeval",))], state, platform)
    assert set(actions(plan)) == {"endpoint.qwen-ep", "job.qwen.ifeval"}
    assert not plan.has_changes and plan.untouched_stacks == ["llama"]


def test_removed_stack_deletes_jobs_before_endpoint_with_prune():
    state, platform = applied(stack("llama", ("ifeval", "gsm8k")), stack("qwen", ("ifeval",)))
    plan = plan_of([stack("qwen", ("ifeval",))], state, platform, prune=True)
    assert actions(plan)["endpoint.llama-ep"] == ["delete"]
    assert plan.change("endpoint.llama-ep").depends_on == ["job.llama.gsm8k", "job.llama.ifeval"]
    assert actions(plan)["job.llama.ifeval"] == ["delete"]
    assert plan.summary["destroy"] == 3
    assert "stack llama is in none of the given configs (--prune)" in plan.change("endpoint.llama-ep").reasons


def test_targets_include_dependencies_only():
    state, platform = applied(stack("qwen", ()))
    stacks = [stack("llama", ("ifeval", "gsm8k")), stack("qwen", ("mmlu",))]
    plan = plan_of(stacks, state, platform, targets=["job.llama.ifeval"])
    assert [c.address for c in plan.changes] == ["endpoint.llama-ep", "job.llama.ifeval"]
    prefix = plan_of(stacks, state, platform, targets=["job.llama"])
    assert [c.address for c in prefix.changes] == ["endpoint.llama-ep", "job.llama.gsm8k", "job.llama.ifeval"]
    with pytest.raises(NimctlError, match=r"--target job\.nope: no such resource"):
        plan_of(stacks, state, platform, targets=["job.nope"])


def test_duplicate_address_is_an_error():
    first = stack("a", ("ifeval",))
    second = dataclasses.replace(first, name="b", source_file="b.yaml")  # same endpoint name, same jobs
    with pytest.raises(NimctlError, match=r"endpoint\.a-ep is defined twice: in a\.yaml and in b\.yaml"):
        make_plan([first, second], State(), None, salt="x")


def _pending(state, op, address, type_, name, spec=None, inputs_hash=None, platform_id=None):
    entry = PendingEntry(
        id=f"p-{op}-{name}",
        op=op,
        address=address,
        type=type_,
        provider="lepton",
        name=name,
        invocation_id="feedfacefeedface",
        stack="llama",
        spec=spec or {},
        inputs_hash=inputs_hash,
        platform_id=platform_id,
    )
    state.pending.append(entry)
    return entry


def test_interrupted_create_found_live_is_adopted_not_duplicated():
    s = stack("llama", ("ifeval",))
    state, platform = State(), MemoryPlatform()
    from nimctl.common.secrets import redact_spec

    redacted = redact_spec(s.endpoint.spec, state.lineage)
    _pending(state, "create", "endpoint.llama-ep", "endpoint", "llama-ep", redacted, endpoint_spec_hash(redacted))
    owner = (state.lineage, "feedfacefeedface")  # the marker the interrupted create sent
    platform.add_endpoint(endpoint_info(s.endpoint, owner=owner))
    job = s.jobs[0]
    _pending(state, "submit", job.address, "job", "eval-abc-ifeval", job.spec_template, job.inputs_hash)
    platform.add_job(job_info(job, job_id="j1", name="eval-abc-ifeval", state=JobState.RUNNING, owner=owner))
    plan = plan_of([s], state, platform)
    assert actions(plan) == {"endpoint.llama-ep": ["no-op"], "job.llama.ifeval": ["no-op"]}
    assert [p.resolution for p in plan.pending] == ["adopt", "adopt"]
    assert plan.has_changes  # the journal still needs settling
    assert "adopted" in plan.change("endpoint.llama-ep").reasons[0]


@pytest.mark.parametrize("op", ["submit", "create"])
def test_recovery_settles_an_interrupted_job_run_as_the_plan_showed(tmp_path, op):
    """What the plan shows for a pending entry is what apply's recovery then does: a job journaled
    as submitted (or created: a job's create is its submit) and found live with this invocation's
    marker is adopted by both, not run again."""
    s = stack("llama", ("ifeval",))
    state, platform = State(), MemoryPlatform()
    job = s.jobs[0]
    _pending(state, op, job.address, "job", "eval-abc-ifeval", job.spec_template, job.inputs_hash)
    owner = (state.lineage, "feedfacefeedface")
    platform.add_job(job_info(job, job_id="j1", name="eval-abc-ifeval", state=JobState.RUNNING, owner=owner))
    assert [p.resolution for p in plan_of([s], state, platform).pending] == ["adopt"]

    store = StateStore(tmp_path / "state.json")
    store.write(state)
    settled = settle_pending(Journal(store, state), {"lepton": platform})
    assert [x.outcome for x in settled] == [SettleOutcome.ADOPTED]
    assert state.resources[job.address].platform_id == "j1" and not state.pending


@pytest.mark.parametrize("owner", [None, ("another-lineage", "feedfacefeedface"), ("SELF", "0123456789abcdef")])
def test_an_object_of_the_journaled_name_without_this_invocations_marker_is_not_adopted(owner):
    s = stack("llama", ())
    state, platform = State(), MemoryPlatform()
    if owner is not None and owner[0] == "SELF":
        owner = (state.lineage, owner[1])  # this state, but another invocation (e.g. before a state rm)
    _pending(state, "create", "endpoint.llama-ep", "endpoint", "llama-ep", {})
    platform.add_endpoint(endpoint_info(s.endpoint, owner=owner))
    plan = plan_of([s], state, platform)
    assert [p.resolution for p in plan.pending] == ["not created"]
    change = plan.change("endpoint.llama-ep")
    assert change.blocked and plan.conflicts == [change]
    assert "apply refuses to take it over" in " ".join(change.reasons)
    expected = "not created by nimctl" if owner is None else "created by"
    assert expected in change.owner["description"]
    shared = plan_of([s], state, platform, share_existing=True).change("endpoint.llama-ep")
    assert shared.actions == ["share"] and shared.shared and not shared.blocked


def test_a_recorded_name_taken_by_another_state_plans_a_create_that_is_refused():
    s = stack("llama", ())
    state, platform = applied(s)
    platform.endpoints["llama-ep"] = endpoint_info(s.endpoint, owner=("another-lineage", "0" * 16))
    change = plan_of([s], state, platform).change("endpoint.llama-ep")
    assert change.actions == ["create"] and change.blocked


def test_interrupted_create_not_live_and_unrefreshed_pending():
    s = stack("llama", ())
    state, platform = State(), MemoryPlatform()
    _pending(state, "create", "endpoint.llama-ep", "endpoint", "llama-ep", {})
    plan = plan_of([s], state, platform)
    assert [p.resolution for p in plan.pending] == ["not created"]
    assert actions(plan) == {"endpoint.llama-ep": ["create"]}
    unrefreshed = make_plan([s], state, None, salt=state.lineage)
    assert [p.resolution for p in unrefreshed.pending] == ["unresolved"]


def test_interrupted_delete_already_done():
    s = stack("llama", ())
    state, platform = applied(s)
    _pending(state, "delete", "endpoint.llama-ep", "endpoint", "llama-ep", platform_id="llama-ep")
    platform.endpoints.clear()
    plan = plan_of([], state, platform, prune=True)
    assert [p.resolution for p in plan.pending] == ["already deleted"]
    assert plan.change("endpoint.llama-ep").actions == ["delete"]
    assert any("only forgotten" in r for r in plan.change("endpoint.llama-ep").reasons)


def test_failed_endpoint_is_replaced():
    s = stack("llama", ())
    state, platform = applied(s)
    platform.endpoints["llama-ep"] = dataclasses.replace(
        platform.endpoints["llama-ep"], state=ResourceState.FAILED, platform_state="Error"
    )
    change = plan_of([s], state, platform).change("endpoint.llama-ep")
    assert change.actions == ["delete", "create"]
    assert "the platform reports it as Error: it will be replaced" in change.reasons


def test_masked_or_missing_tokens_are_not_drift():
    s = stack("llama", (), token="literal-token-abc")
    state, platform = applied(s)
    live = platform.endpoints["llama-ep"]
    for shown in ([{"value": "***"}], None):
        spec = dict(live.spec)
        if shown is None:
            spec.pop("api_tokens")
        else:
            spec["api_tokens"] = shown
        platform.endpoints["llama-ep"] = EndpointInfo(**{**live.__dict__, "spec": spec})
        plan = plan_of([s], state, platform)
        assert plan.drift == [] and not plan.has_changes


def test_endpoint_being_deleted_outside_counts_as_deleted():
    s = stack("llama", ())
    state, platform = applied(s)
    platform.endpoints["llama-ep"] = dataclasses.replace(
        platform.endpoints["llama-ep"], state=ResourceState.STOPPED, platform_state="Deleting"
    )
    plan = plan_of([s], state, platform)
    assert plan.change("endpoint.llama-ep").actions == ["create"]
    platform.endpoints["llama-ep"] = dataclasses.replace(platform.endpoints["llama-ep"], platform_state="Stopped")
    assert plan_of([s], state, platform).change("endpoint.llama-ep").actions == ["no-op"]  # stopped, still there


@pytest.mark.parametrize("action", list(Action))
def test_an_action_round_trips_through_its_steps(action):
    assert Action.from_steps(action.steps) is action
    assert str(action) == action.value
    assert action.is_change == (action is not Action.NOOP)
    assert action.creates == ("create" in action.steps)
    assert action.deletes == ("delete" in action.steps)


@pytest.mark.parametrize("steps", [[], ["create", "delete"], ["destroy"], ["delete", "create", "create"]])
def test_steps_that_are_no_action_are_refused(steps):
    with pytest.raises(ValueError):
        Action.from_steps(steps)


def test_a_replace_lists_its_delete_before_its_create_in_plan_json():
    state, _ = applied(stack())
    changed = stack(image="nim/llama:2.0")
    change = plan_of([changed], state).change(changed.endpoint.address)
    assert change.action is Action.REPLACE and change.actions == ["delete", "create"]
    assert change.to_dict()["actions"] == ["delete", "create"]
