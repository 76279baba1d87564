"""A literal endpoint token is a secret: no representation meant for display or storage holds it."""

from __future__ import annotations

import json

import pytest

from nimctl.common.errors import ConfigError
from nimctl.common.secrets import is_redacted, redact_spec
from nimctl.stack.builder import build_stacks, redact_stack_dict, render_job_spec
from tests.support.stack_configs import Loaded, build, seed_config

TOKEN = "tok-'quote\"-$(rm -rf /)-9f8e7d6c5b4a"
SALT = "lineage-1234"


def literal_config(api_key_name: str | None = None) -> dict:
    config = seed_config()
    config["deployment"]["lepton_config"]["api_tokens"] = [{"value": TOKEN}]
    config["evaluation"]["tasks"] = [{"name": "ifeval"}, {"name": "gsm8k"}]
    if api_key_name:
        config["target"] = {"api_endpoint": {"api_key_name": api_key_name}}
    return config


def test_the_spec_itself_holds_the_token_for_the_platform() -> None:
    stack = build(literal_config())
    assert stack.endpoint.spec["api_tokens"] == [{"value": TOKEN}]
    _, spec = render_job_spec(stack.jobs[0], invocation_id="0" * 16, endpoint_url="https://e.example")
    assert {"name": "API_KEY", "value": TOKEN} in spec["envs"]


@pytest.mark.parametrize("api_key_name", [None, "NGC_API_KEY", "ENDPOINT_TOKEN", "MY_SECRET"])
def test_every_stored_or_shown_form_is_redacted(api_key_name: str | None) -> None:
    stack = build(literal_config(api_key_name))
    forms = {
        "endpoint spec": redact_spec(stack.endpoint.spec, SALT),
        "stack dict": redact_stack_dict(stack, SALT),
        "probe token repr": repr(stack.endpoint.probe_token),
        "warnings and notes": [stack.warnings, [j.notes for j in stack.jobs]],
        "inputs hashes": [j.inputs_hash for j in stack.jobs],
    }
    for job in stack.jobs:
        _, spec = render_job_spec(job, invocation_id="0123456789abcdef", endpoint_url="https://e.example")
        forms[f"rendered {job.task}"] = redact_spec(spec, SALT)
        forms[f"template {job.task}"] = redact_spec(job.spec_template, SALT)
    for label, form in forms.items():
        text = json.dumps(form, default=str)
        assert TOKEN not in text, label
        assert json.dumps(TOKEN)[1:-1] not in text, label  # nor its JSON-escaped form
    assert is_redacted(forms["endpoint spec"]["api_tokens"][0]["value"])
    key = api_key_name or "API_KEY"
    for job in forms["stack dict"]["jobs"]:
        [entry] = [e for e in job["spec_template"]["envs"] if e["name"] == key]
        assert is_redacted(entry["value"])
    assert is_redacted(forms["stack dict"]["endpoint"]["probe_token"]["literal"])


def test_redacted_fingerprints_are_stable_for_change_detection() -> None:
    first, second = build(literal_config()), build(literal_config())
    assert redact_stack_dict(first, SALT) == redact_stack_dict(second, SALT)
    other = literal_config()
    other["deployment"]["lepton_config"]["api_tokens"] = [{"value": TOKEN + "x"}]
    changed = redact_stack_dict(build(other), SALT)["endpoint"]["spec"]
    assert changed != redact_stack_dict(first, SALT)["endpoint"]["spec"]


def test_a_key_name_that_does_not_look_secret_is_refused_for_a_literal_token() -> None:
    loaded = Loaded("lit.yaml", "s", literal_config("ENDPOINT_AUTH"), lines={"target.api_endpoint.api_key_name": 30})
    with pytest.raises(ConfigError) as caught:
        build_stacks([loaded])
    [problem] = caught.value.problems
    assert (problem.key_path, problem.line) == ("target.api_endpoint.api_key_name", 30)
    assert "token_name_ref" in (problem.hint or "")
    assert TOKEN not in str(caught.value)


def test_a_referenced_token_allows_any_key_name() -> None:
    config = seed_config()
    config["target"] = {"api_endpoint": {"api_key_name": "ENDPOINT_AUTH"}}
    stack = build(config)
    assert {"name": "ENDPOINT_AUTH", "value_from": {"secret_name_ref": "ENDPOINT_API_KEY"}} in stack.jobs[
        0
    ].spec_template["envs"]


def test_errors_never_quote_the_token() -> None:
    config = literal_config()
    config["evaluation"]["tasks"] = [{"name": "ifevl"}]
    config["deployment"]["lepton_config"]["min_replicas"] = 9
    with pytest.raises(ConfigError) as caught:
        build(config)
    assert caught.value.error_count == 2
    assert TOKEN not in str(caught.value)


def test_local_runs_ignore_endpoint_tokens_with_a_warning() -> None:
    from tests.support.stack_configs import local_mock_config

    config = local_mock_config()
    config["deployment"]["lepton_config"] = {"api_tokens": [{"value": TOKEN}]}
    stack = build(config)
    assert stack.endpoint.probe_token is None
    assert any("api_tokens" in w for w in stack.warnings)
    assert TOKEN not in json.dumps(stack.to_dict())


def test_the_key_variable_name_is_not_mistaken_for_a_secret() -> None:
    # NIMCTL_API_KEY_ENV holds a variable *name*; redacting it would hide nothing and would make
    # every plan file look like it leaks a secret ("API_KEY" appears in the run config).
    stack = build(literal_config())
    _, spec = render_job_spec(stack.jobs[0], invocation_id="0" * 16, endpoint_url="https://e.example")
    envs = {e["name"]: e.get("value") for e in redact_spec(spec, SALT)["envs"]}
    assert envs["NIMCTL_API_KEY_ENV"] == "API_KEY"
    assert is_redacted(envs["API_KEY"])
