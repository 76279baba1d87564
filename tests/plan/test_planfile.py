"""Saved plans: contents, privacy, and refusing a stale plan with the resource that changed."""

from __future__ import annotations

import dataclasses
import json
import os
import stat

import pytest

from nimctl.common.secrets import redact_spec
from nimctl.plan.actions import make_plan
from nimctl.plan.planfile import (
    StalePlanError,
    check_plan_fresh,
    load_plan,
    load_plan_file,
    read_plan_file,
    save_plan,
)
from nimctl.plan.refresh import refresh
from nimctl.plan.render import render_json_text, render_text
from nimctl.state.model import PendingEntry, State
from nimctl.state.records import adopt_pending, endpoint_spec_hash
from nimctl.state.store import StateStore
from tests.support.factories import endpoint_info, stack
from tests.support.memory import MemoryPlatform, applied_state
from tests.support.plans import PLANTED


def applied(*stacks):
    return applied_state(*stacks)


def planned(stacks, state, platform):
    observed = refresh(state, {"lepton": platform})
    return make_plan(stacks, state, observed, salt=state.lineage), observed


def test_round_trip_is_private_and_self_contained_without_literal_secrets(tmp_path):
    state, platform = applied(stack("llama", ("ifeval",)))
    desired = [stack("llama", ("ifeval", "gsm8k"), max_replicas=5)]
    plan, observed = planned(desired, state, platform)
    path = tmp_path / "plans" / "tfplan"
    save_plan(path, plan, desired, state, observed, config_files=["llama.yaml"], overrides=["a.b=1"])

    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    saved = read_plan_file(path)
    assert not saved.needs_config and saved.overrides == ["a.b=1"]
    loaded = load_plan(path, state, refresh(state, {"lepton": platform}))
    assert loaded.to_dict() == plan.to_dict()
    assert render_text(loaded) == render_text(plan)
    assert loaded.desired["endpoint.llama-ep"] == desired[0].endpoint  # rebuilt from the file itself
    assert set(loaded.desired) == {c.address for c in plan.changes}


def test_literal_secret_never_stored_and_config_is_re_read(tmp_path):
    state, platform = applied(stack("llama", ("ifeval",), token=PLANTED))
    desired = [stack("llama", ("ifeval",), token=PLANTED, max_replicas=4)]
    plan, observed = planned(desired, state, platform)
    config = tmp_path / "llama.yaml"
    config.write_text("# stands for the config file the stacks came from\n")
    path = tmp_path / "tfplan"
    save_plan(path, plan, desired, state, observed, config_files=[str(config)])

    assert PLANTED not in path.read_text()
    assert PLANTED not in render_json_text(plan) and PLANTED not in render_text(plan)
    saved = read_plan_file(path)
    assert saved.needs_config and saved.config_files == [str(config.resolve())]

    reads: list[list[str]] = []

    def reload(files, overrides):
        reads.append(files)
        return desired

    loaded = load_plan(path, state, refresh(state, {"lepton": platform}), reload=reload)
    assert reads == [[str(config.resolve())]]
    assert loaded.desired["endpoint.llama-ep"].spec["api_tokens"] == [{"value": PLANTED}]  # usable by apply

    rotated = [stack("llama", ("ifeval",), token=PLANTED + "-new", max_replicas=4)]
    with pytest.raises(StalePlanError, match=r"endpoint\.llama-ep changed in the config") as info:
        load_plan_file(path, reload=lambda files, overrides: rotated)
    assert info.value.resource == "endpoint.llama-ep"
    assert PLANTED not in str(info.value)

    config.unlink()
    with pytest.raises(StalePlanError, match="config file .* is gone"):
        load_plan_file(path)


def test_stale_when_state_lineage_differs(tmp_path):
    state, platform = applied(stack("llama", ()))
    plan, observed = planned([stack("llama", ())], state, platform)
    save_plan(tmp_path / "p", plan, [stack("llama", ())], state, observed)
    other = State.from_dict({**state.to_dict(), "lineage": "f" * 32})
    with pytest.raises(StalePlanError, match="another state file"):
        load_plan(tmp_path / "p", other, observed)


def test_stale_when_state_written_since_names_the_resource(tmp_path):
    state, platform = applied(stack("llama", ("ifeval",)))
    desired = [stack("llama", ("ifeval",), max_replicas=5)]
    plan, observed = planned(desired, state, platform)
    save_plan(tmp_path / "p", plan, desired, state, observed)
    state.resources["job.llama.ifeval"].inputs_hash = "another-run"
    saved_serial = state.serial
    state.serial += 1
    expected = rf"serial {saved_serial} -> {saved_serial + 1}.*job\.llama\.ifeval"
    with pytest.raises(StalePlanError, match=expected) as info:
        load_plan(tmp_path / "p", state, refresh(state, {"lepton": platform}))
    assert info.value.resource == "job.llama.ifeval"
    state.resources["job.llama.ifeval"].inputs_hash = plan.change("job.llama.ifeval").before["inputs_hash"]
    with pytest.raises(StalePlanError, match="state was written since"):
        load_plan(tmp_path / "p", state, refresh(state, {"lepton": platform}))


def test_stale_when_a_live_object_changed(tmp_path):
    state, platform = applied(stack("llama", ()), stack("qwen", ()))
    desired = [stack("llama", ()), stack("qwen", (), max_replicas=5)]
    plan, observed = planned(desired, state, platform)
    save_plan(tmp_path / "p", plan, desired, state, observed)

    live = platform.endpoints["llama-ep"]  # becoming Ready or similar is no change ...
    platform.endpoints["llama-ep"] = dataclasses.replace(live, platform_state="Updating")
    load_plan(tmp_path / "p", state, refresh(state, {"lepton": platform}))
    spec = {**live.spec, "container": {**live.spec["container"], "image": "someone/else:1"}}  # ... this is
    platform.endpoints["llama-ep"] = dataclasses.replace(live, spec=spec)
    with pytest.raises(StalePlanError, match=r"endpoint\.llama-ep changed on the platform") as info:
        load_plan(tmp_path / "p", state, refresh(state, {"lepton": platform}))
    assert info.value.resource == "endpoint.llama-ep"


def test_fresh_plan_with_other_actions_is_refused(tmp_path):
    state, platform = applied(stack("llama", ("ifeval",)))
    desired = [stack("llama", ("ifeval",))]
    plan, observed = planned(desired, state, platform)
    save_plan(tmp_path / "p", plan, desired, state, observed)
    check_plan_fresh(tmp_path / "p", plan, state, observed)
    other = make_plan([stack("llama", ("ifeval",), image="nim:2")], state, observed, salt=state.lineage)
    with pytest.raises(StalePlanError, match=r"it would leave endpoint\.llama-ep, but now nimctl would replace it"):
        check_plan_fresh(tmp_path / "p", other, state, observed)


def test_settling_the_journal_the_plan_showed_is_not_staleness(tmp_path):
    s = stack("llama", ())
    state, platform = State(), MemoryPlatform()
    spec = redact_spec(s.endpoint.spec, state.lineage)
    entry = PendingEntry(
        id="e1",
        op="create",
        address=s.endpoint.address,
        type="endpoint",
        provider="lepton",
        name=s.endpoint.name,
        invocation_id="feedfacefeedface",
        stack="llama",
        spec=spec,
        inputs_hash=endpoint_spec_hash(spec),
    )
    state.pending.append(entry)
    platform.add_endpoint(endpoint_info(s.endpoint, owner=(state.lineage, "feedfacefeedface")))
    plan, observed = planned([s], state, platform)
    save_plan(tmp_path / "p", plan, [s], state, observed)

    # what apply's recovery does first: adopt the live endpoint, clear the entry, write the state
    adopt_pending(state, entry, platform.endpoints[s.endpoint.name])
    state.pending.clear()
    state.serial += 1
    fresh_observed = refresh(state, {"lepton": platform})
    fresh = make_plan([s], state, fresh_observed, salt=state.lineage)
    saved = load_plan_file(tmp_path / "p")
    check_plan_fresh(saved, fresh, state, fresh_observed)


def test_not_a_plan_file(tmp_path):
    from nimctl.common.errors import NimctlError

    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(NimctlError, match="is not a nimctl plan file"):
        read_plan_file(bad)
    with pytest.raises(NimctlError, match="does not exist"):
        read_plan_file(tmp_path / "missing")


def test_planning_writes_nothing(tmp_path):
    store = StateStore(tmp_path / "state" / "nimctl.state.json")
    state, platform = applied(stack("llama", ("ifeval",), token=PLANTED))
    store.write(state)
    path = store.path if hasattr(store, "path") else tmp_path / "state" / "nimctl.state.json"
    before = (path.read_bytes(), os.stat(path).st_mtime_ns, sorted(os.listdir(path.parent)))
    assert PLANTED.encode() not in before[0]

    read = store.read()
    platform.calls.clear()  # the apply's calls
    desired = [stack("llama", ("ifeval", "gsm8k"), token=PLANTED + "x", image="nim:2")]
    observed = refresh(read, {"lepton": platform})
    plan = make_plan(desired, read, observed, salt=read.lineage)
    render_text(plan)
    render_json_text(plan)
    assert plan.has_changes
    assert (path.read_bytes(), os.stat(path).st_mtime_ns, sorted(os.listdir(path.parent))) == before
    assert read.to_dict() == store.read().to_dict()  # the in-memory state is untouched too
    assert all(call.startswith("list_") for call in platform.calls)  # reads only


def test_plan_made_before_any_state_file_applies_to_a_new_one(tmp_path):
    desired = [stack("llama", ("ifeval",), token=PLANTED)]
    first = State()  # what reading a missing state file gives: a new lineage every time
    plan = make_plan(desired, first, None, salt=first.lineage)
    save_plan(tmp_path / "p", plan, desired, first, None)
    loaded = load_plan(tmp_path / "p", State(), None, stacks=desired)
    assert [c.actions for c in loaded.changes] == [["create"], ["create"]]
    state, _ = applied(stack("other", ()))  # meanwhile another apply created the state
    with pytest.raises(StalePlanError, match=r"stale: it was made when there was no state yet.*endpoint\.other-ep"):
        load_plan(tmp_path / "p", state, None, stacks=desired)
