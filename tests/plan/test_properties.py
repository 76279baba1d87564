"""Properties of the planner, over generated configs and states. Every applied state comes from
the real applier, driven in-process against an in-memory platform (tests/support/memory.py)."""

from __future__ import annotations

import copy
import dataclasses
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nimctl.plan.actions import make_plan
from nimctl.plan.refresh import refresh
from nimctl.plan.render import render_json, render_text
from nimctl.providers.base import JobState
from nimctl.stack.resources import Stack
from nimctl.state.model import State
from tests.support.factories import stack
from tests.support.memory import apply, memory_workspace

TASKS = ("ifeval", "gsm8k", "mmlu", "humaneval")
STACK_NAMES = ("llama", "mistral", "qwen")

stack_params = st.fixed_dictionaries(
    {
        "tasks": st.lists(st.sampled_from(TASKS), unique=True, max_size=3).map(tuple),
        "image": st.sampled_from(["nim/llama:1.8.6", "nim/llama:1.9.0"]),
        "min_replicas": st.integers(0, 2),
        "max_replicas": st.integers(2, 4),
        "token": st.sampled_from([None, "tok-alpha-1111", "tok-beta-2222"]),
        "extra_envs": st.dictionaries(
            st.sampled_from(["A", "B", "LOG_LEVEL"]), st.sampled_from(["1", "2"]), max_size=2
        ),
    }
)
configs = st.dictionaries(st.sampled_from(STACK_NAMES), stack_params, max_size=3)


def build(config: dict) -> list[Stack]:
    return [
        stack(
            name,
            p["tasks"],
            image=p["image"],
            min_replicas=p["min_replicas"],
            max_replicas=p["max_replicas"],
            token=p["token"],
            extra_envs=p["extra_envs"],
        )
        for name, p in sorted(config.items())
    ]


def scrambled(stacks: list[Stack], rnd: random.Random) -> list[Stack]:
    """The same desired resources written differently: stack and job order, dict key order,
    env list order."""

    def shuffle_keys(value):
        if isinstance(value, dict):
            items = list(value.items())
            rnd.shuffle(items)
            return {k: shuffle_keys(v) for k, v in items}
        if isinstance(value, list):
            out = [shuffle_keys(v) for v in value]
            if out and all(isinstance(v, dict) and "name" in v for v in out):
                rnd.shuffle(out)
            return out
        return value

    out = []
    for s in stacks:
        jobs = [dataclasses.replace(j, spec_template=shuffle_keys(j.spec_template)) for j in s.jobs]
        rnd.shuffle(jobs)
        ep = dataclasses.replace(s.endpoint, spec=shuffle_keys(copy.deepcopy(s.endpoint.spec))) if s.endpoint else None
        out.append(dataclasses.replace(s, endpoint=ep, jobs=tuple(jobs)))
    rnd.shuffle(out)
    return out


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(before=configs, after=configs, refreshed=st.booleans())
def test_plan_is_deterministic(before, after, refreshed):
    with memory_workspace() as ws:
        apply(ws, build(before))
        state = ws.state()
        observed = refresh(state, {"lepton": ws.platform}) if refreshed else None
        one = make_plan(build(after), state, observed, salt=state.lineage)
        two = make_plan(build(after), state, observed, salt=state.lineage)
    assert one.to_dict() == two.to_dict()
    assert render_text(one) == render_text(two)
    assert render_json(one) == render_json(two)


@SETTINGS
@given(before=configs, after=configs, refreshed=st.booleans(), failed=st.booleans())
def test_applying_the_plan_then_planning_again_gives_no_changes(before, after, refreshed, failed):
    with memory_workspace(job_state=JobState.FAILED if failed else JobState.SUCCEEDED) as ws:
        apply(ws, build(before))
        ws.platform.job_outcome = lambda name, spec: JobState.SUCCEEDED
        code, _ = apply(ws, build(after))
        assert code == 0
        state = ws.state()
        again_observed = refresh(state, {"lepton": ws.platform}) if refreshed else None
        again = make_plan(build(after), state, again_observed, salt=state.lineage)
    assert [c.address for c in again.changes if c.is_change] == []
    assert not again.has_changes
    assert render_text(again).endswith("No changes. The platform matches the configuration.")


@SETTINGS
@given(before=configs, after=configs, seed=st.integers(0, 2**32 - 1))
def test_reordering_stacks_jobs_and_keys_plans_the_same(before, after, seed):
    with memory_workspace() as ws:
        apply(ws, build(before))
        state = ws.state()
        observed = refresh(state, {"lepton": ws.platform})
    stacks = build(after)
    plan = make_plan(stacks, state, observed, salt=state.lineage)
    reordered = make_plan(scrambled(stacks, random.Random(seed)), state, observed, salt=state.lineage)
    assert [(c.address, c.actions, [f.path for f in c.changed_fields]) for c in reordered.changes] == [
        (c.address, c.actions, [f.path for f in c.changed_fields]) for c in plan.changes
    ]
    assert render_json(reordered)["summary"] == render_json(plan)["summary"]


@SETTINGS
@given(config=configs)
def test_every_resource_appears_once_sorted(config):
    state = State()
    plan = make_plan(build(config), state, None, salt=state.lineage)
    addresses = [c.address for c in plan.changes]
    assert addresses == sorted(set(addresses))
    expected = {f"endpoint.{n}-ep" for n in config} | {f"job.{n}.{t}" for n, p in config.items() for t in p["tasks"]}
    assert set(addresses) == expected
