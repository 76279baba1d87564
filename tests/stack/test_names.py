"""Endpoint and job names: valid for Lepton, deterministic, unique; cross-file conflicts."""

from __future__ import annotations

import copy
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nimctl.common.errors import ConfigError
from nimctl.stack.builder import build_stacks, derived_endpoint_name, job_name, job_name_slug
from nimctl.stack.resources import DesiredJob
from tests.support.stack_configs import Loaded, build, seed_config

NAME_RE = re.compile(r"^[a-z][a-z0-9-]*$")


def assert_lepton_name(name: str) -> None:
    assert len(name) <= 36, name
    assert NAME_RE.match(name), name
    assert not name.endswith("-") and not name.endswith("by-lepton"), name


def make_job(stack: str, task: str) -> DesiredJob:
    return DesiredJob(
        stack=stack,
        task=task,
        resolved_task=task,
        platform="lepton",
        endpoint=None,
        spec_template={},
        inputs_hash="",
        model_id="m",
        name_slug=job_name_slug(stack, task),
    )


invocations = st.text(alphabet="0123456789abcdef", min_size=16, max_size=16)
free_text = st.text(min_size=1, max_size=80)


@settings(max_examples=300, deadline=None)
@given(stack=free_text, task=free_text, invocation=invocations)
def test_job_names_are_always_valid(stack: str, task: str, invocation: str) -> None:
    name = job_name(make_job(stack, task), invocation)
    assert_lepton_name(name)
    assert name.startswith(f"eval-{invocation[:6]}-")


@settings(max_examples=200, deadline=None)
@given(stack=free_text)
def test_derived_endpoint_names_are_always_valid(stack: str) -> None:
    assert_lepton_name(derived_endpoint_name(stack))
    assert derived_endpoint_name(stack) == derived_endpoint_name(stack)


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(
            st.sampled_from(["llama", "llama-a", "llama_a", "Llama", "x" * 40]),
            st.sampled_from(["ifeval", "lm-evaluation-harness.ifeval", "gsm8k", "nimctl.smoke", "a" * 50, "a" * 51]),
        ),
        unique=True,
        min_size=2,
        max_size=12,
    )
)
def test_job_names_differ_for_different_stack_task_pairs(pairs: list[tuple[str, str]]) -> None:
    names = {job_name(make_job(s, t), "0123456789abcdef") for s, t in pairs}
    assert len(names) == len(pairs)


def test_job_names_are_readable() -> None:
    name = job_name(make_job("llama-3-1-8b", "lm-evaluation-harness.ifeval"), "a1b2c3d4e5f60718")
    assert re.match(r"^eval-a1b2c3-llama-3-1-ifeval-[0-9a-f]{6}$", name), name


def test_job_names_are_deterministic_and_differ_by_invocation() -> None:
    job = make_job("s", "gsm8k")
    assert job_name(job, "abcdef0000000000") == job_name(job, "abcdef0000000000")
    assert job_name(job, "abcdef0000000000") != job_name(job, "fedcba0000000000")


def test_bad_invocation_id_is_refused() -> None:
    with pytest.raises(ValueError):
        job_name(make_job("s", "t"), "NOT-HEX")


def test_stacks_sharing_task_names_get_distinct_jobs() -> None:
    first, second = seed_config(), seed_config()
    second["deployment"]["lepton_config"]["endpoint_name"] = "llama-other"
    for config in (first, second):
        config["evaluation"]["tasks"] = [{"name": "ifeval"}, {"name": "gsm8k"}]
    stacks = build_stacks([Loaded("a.yaml", "team-a-llama", first), Loaded("b.yaml", "team-b-llama", second)])
    names = [job_name(j, "0123456789abcdef") for s in stacks for j in s.jobs]
    assert len(set(names)) == 4
    addresses = [j.address for s in stacks for j in s.jobs]
    assert addresses == [
        "job.team-a-llama.ifeval",
        "job.team-a-llama.gsm8k",
        "job.team-b-llama.ifeval",
        "job.team-b-llama.gsm8k",
    ]


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        ("llama-3-1-8b", "llama-3-1-8b"),
        ("lepton_autoscaling", None),
        ("9lives", None),
    ],
)
def test_derived_endpoint_name(stack: str, expected: str | None) -> None:
    config = seed_config()
    del config["deployment"]["lepton_config"]["endpoint_name"]
    name = build(config, stack=stack).endpoint.name
    assert_lepton_name(name)
    if expected:
        assert name == expected
    else:
        assert name.startswith(("lepton-autoscaling-", "ep-9lives-"))


@pytest.mark.parametrize("bad", ["Llama", "llama_3", "x" * 37, "llama-", "3llama", "my-endpoint-by-lepton"])
def test_invalid_explicit_endpoint_name(bad: str) -> None:
    config = seed_config()
    config["deployment"]["lepton_config"]["endpoint_name"] = bad
    loaded = Loaded("e.yaml", "s", config, lines={"deployment.lepton_config.endpoint_name": 14})
    with pytest.raises(ConfigError) as caught:
        build_stacks([loaded])
    problem = caught.value.problems[0]
    assert (problem.file, problem.line, problem.key_path) == ("e.yaml", 14, "deployment.lepton_config.endpoint_name")
    assert bad in problem.message


def test_duplicate_stack_names_across_files() -> None:
    first, second = seed_config(), copy.deepcopy(seed_config())
    second["stack"] = "same"
    second["deployment"]["lepton_config"]["endpoint_name"] = "other"
    with pytest.raises(ConfigError) as caught:
        build_stacks([Loaded("a.yaml", "same", first), Loaded("b.yaml", "same", second, lines={"stack": 1})])
    [problem] = caught.value.problems
    assert (problem.file, problem.key_path, problem.line) == ("b.yaml", "stack", 1)
    assert "a.yaml" in problem.message


def test_duplicate_endpoint_names_across_stacks() -> None:
    with pytest.raises(ConfigError) as caught:
        build_stacks([Loaded("a.yaml", "a", seed_config()), Loaded("b.yaml", "b", seed_config())])
    [problem] = caught.value.problems
    assert (problem.file, problem.key_path) == ("b.yaml", "deployment.lepton_config.endpoint_name")
    assert "'llama-3-1-8b'" in problem.message and "a.yaml" in problem.message


def test_problems_of_several_files_are_reported_together() -> None:
    bad_a, bad_b = seed_config(), seed_config()
    bad_a["evaluation"]["tasks"] = [{"name": "ifevl"}]
    bad_b["deployment"]["lepton_config"]["endpoint_name"] = "Bad_Name"
    with pytest.raises(ConfigError) as caught:
        build_stacks([Loaded("a.yaml", "a", bad_a), Loaded("b.yaml", "b", bad_b)])
    assert {p.file for p in caught.value.problems} == {"a.yaml", "b.yaml"}
    assert caught.value.error_count == 2
