"""The run-config builder in every key wiring, on Lepton and locally: the run config names the
key only as target.api_endpoint.api_key_name (never api_key, never both), and the variable it
names reaches the job: the endpoint's literal token, its token_name_ref secret, api_key_name
alone (a Lepton secret reference / nimctl's own environment locally), the user's env_vars, or
nothing at all (and then the plan says the evaluation calls the endpoint unauthenticated)."""

from __future__ import annotations

import copy

import pytest
import yaml

from nimctl.stack.builder import render_job_spec
from nimctl.stack.specs.key_wiring import KeyWiring
from tests.support.stack_configs import build, seed_config

INVOCATION = "a1b2c3d4e5f60718"
URL = "https://ws1-llama.xenon.lepton.run"


def lepton(tokens: list | None, key_name: str | None, task_env: dict | None = None) -> dict:
    config = seed_config()
    lepton_config = config["deployment"]["lepton_config"]
    if tokens is None:
        del lepton_config["api_tokens"]
    else:
        lepton_config["api_tokens"] = tokens
    if key_name:
        config["target"] = {"api_endpoint": {"api_key_name": key_name}}
    if task_env:
        config["evaluation"]["tasks"][0]["env_vars"] = task_env
    return config


def local(key_name: str | None, task_env: dict | None = None) -> dict:
    config = {
        "execution": {"type": "local", "output_dir": "results", "local": {"readiness_timeout": 5}},
        "deployment": {"type": "none"},
        "target": {"api_endpoint": {"url": "http://127.0.0.1:9/v1/chat/completions", "model_id": "m"}},
        "evaluation": {"tasks": [{"name": "ifeval", **({"env_vars": task_env} if task_env else {})}]},
    }
    if key_name:
        config["target"]["api_endpoint"]["api_key_name"] = key_name
    return config


def job_parts(config: dict) -> tuple[dict, dict, object]:
    """(the run config's api_endpoint, the job's env as {name: value or value_from}, the job)."""
    job = build(copy.deepcopy(config)).jobs[0]
    _, spec = render_job_spec(job, invocation_id=INVOCATION, endpoint_url=URL)
    if job.platform == "lepton":
        env = {e["name"]: e.get("value", e.get("value_from")) for e in spec["envs"]}
    else:
        env = {**spec["env"], **{k: {"from_nimctl_env": v} for k, v in (spec.get("env_from") or {}).items()}}
    endpoint = yaml.safe_load(env["NIMCTL_RUN_CONFIG"])["target"]["api_endpoint"]
    return endpoint, env, job


CASES = [
    # (case, config, expected api_key_name in the run config, the key variable's env entry, wiring)
    ("literal token", lepton([{"value": "s3cr3t-tok"}], "NIM_API_KEY"), "NIM_API_KEY", "s3cr3t-tok", "literal"),
    (
        "token_name_ref",
        lepton([{"value_from": {"token_name_ref": "EP_TOKEN"}}], None),
        "API_KEY",
        {"secret_name_ref": "EP_TOKEN"},
        "token_name_ref",
    ),
    (
        "api_key_name alone, Lepton",
        lepton(None, "NGC_API_KEY"),
        "NGC_API_KEY",
        {"secret_name_ref": "NGC_API_KEY"},
        "api_key_name",
    ),
    (
        "api_key_name alone, local",
        local("HOSTED_API_KEY"),
        "HOSTED_API_KEY",
        {"from_nimctl_env": "HOSTED_API_KEY"},
        "api_key_name",
    ),
    (
        "user env_vars, Lepton",
        lepton(None, "MY_KEY", {"MY_KEY": {"value_from": {"secret_name_ref": "OTHER"}}}),
        "MY_KEY",
        {"secret_name_ref": "OTHER"},
        "env_vars",
    ),
    (
        "user env_vars, local",
        local("MY_KEY", {"MY_KEY": {"value_from": {"secret_name_ref": "V"}}}),
        "MY_KEY",
        {"from_nimctl_env": "V"},
        "env_vars",
    ),
]


@pytest.mark.parametrize(("case", "config", "key_name", "entry", "wiring"), CASES, ids=[c[0] for c in CASES])
def test_the_key_reaches_the_job_as_the_variable_api_key_name_names(
    case: str, config: dict, key_name: str, entry: object, wiring: str
) -> None:
    endpoint, env, job = job_parts(config)
    assert endpoint["api_key_name"] == key_name
    assert "api_key" not in endpoint
    assert env[key_name] == entry
    assert env["NIMCTL_API_KEY_ENV"] == key_name
    assert job.api_key_wiring == wiring


@pytest.mark.parametrize("config", [lepton(None, None), local(None)], ids=["lepton", "local"])
def test_no_key_anywhere_means_no_key_field_and_the_plan_says_so(config: dict) -> None:
    endpoint, env, job = job_parts(config)
    assert "api_key" not in endpoint and "api_key_name" not in endpoint
    assert "API_KEY" not in env
    assert job.api_key_wiring == KeyWiring.NONE.value
    assert any("unauthenticated" in note for note in job.notes)


def test_a_legacy_api_key_in_the_users_run_config_becomes_api_key_name() -> None:
    config = lepton([{"value_from": {"token_name_ref": "EP"}}], None)
    config["evaluation"]["tasks"][0]["nemo_evaluator_config"] = {"target": {"api_endpoint": {"api_key": "OLD_KEY"}}}
    endpoint, _, _ = job_parts(config)
    assert endpoint["api_key_name"] == "OLD_KEY" and "api_key" not in endpoint


def test_the_users_own_api_key_name_in_the_run_config_wins_and_stays_single() -> None:
    config = lepton([{"value_from": {"token_name_ref": "EP"}}], None)
    config["evaluation"]["tasks"][0]["nemo_evaluator_config"] = {
        "target": {"api_endpoint": {"api_key_name": "MINE", "api_key": "OLD"}}
    }
    endpoint, _, _ = job_parts(config)
    assert endpoint["api_key_name"] == "MINE" and "api_key" not in endpoint


def test_the_literal_token_never_enters_the_run_config() -> None:
    endpoint, env, _ = job_parts(lepton([{"value": "s3cr3t-tok"}], "NIM_API_KEY"))
    assert "s3cr3t-tok" not in env["NIMCTL_RUN_CONFIG"]


def test_named_key_on_lepton_is_a_secret_the_plan_checks() -> None:
    from nimctl.stack.builder import referenced_secrets

    stack = build(lepton(None, "NGC_API_KEY"))
    assert "NGC_API_KEY" in referenced_secrets([stack])
    assert any("Lepton secret NGC_API_KEY" in note for note in stack.jobs[0].notes)
