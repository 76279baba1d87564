"""The JSON Schema: valid draft 2020-12, evaluated at run time exactly as ``jsonschema`` would,
and each rule class (types, ranges, enums, closed objects, required, patterns) reported clearly."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from nimctl.config.schema_check import (
    ANNOTATION_KEYWORDS,
    SCHEMA_PATH,
    SUPPORTED_KEYWORDS,
    iter_schema_errors,
    load_schema,
)
from tests.support.configs import BROKEN, LOCAL_MOCK, REPO, SEED, errors_of, load_one, seed_with, write

SCHEMA = load_schema()
REFERENCE = Draft202012Validator(SCHEMA)


def test_repo_root_schemas_link_points_at_the_package_schema():
    root = REPO / "schemas" / "nimctl-config.schema.json"
    if root.exists():
        assert root.resolve() == SCHEMA_PATH.resolve()


def test_schema_is_valid_draft_2020_12():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(SCHEMA)


def _keywords(node: Any, found: set[str], *, in_properties: bool = False) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if not in_properties:
                found.add(key)
            _keywords(value, found, in_properties=(key in ("properties", "$defs") and not in_properties))
    elif isinstance(node, list):
        for item in node:
            _keywords(item, found)


def test_schema_uses_only_keywords_the_run_time_evaluator_implements():
    found: set[str] = set()
    _keywords(SCHEMA, found)
    assert found - SUPPORTED_KEYWORDS - ANNOTATION_KEYWORDS == set()


def _normalized(errors) -> list[tuple[tuple, str]]:
    return sorted((tuple(str(p) for p in e.absolute_path), e.validator) for e in errors)


def assert_same_as_jsonschema(config: Any) -> None:
    assert _normalized(iter_schema_errors(config)) == _normalized(REFERENCE.iter_errors(config))


def _composed_configs() -> list[dict[str, Any]]:
    configs = [load_one(str(SEED)).config]
    for path in sorted((REPO / "examples").glob("*.yaml")):
        configs.append(load_one(str(path)).config)
    return configs


def test_evaluator_agrees_with_jsonschema_on_valid_and_broken_configs():
    from nimctl.config.compose import compose
    from nimctl.config.yaml_source import YamlProblems, parse_yaml, read_file_text

    configs = _composed_configs()
    for path in sorted(BROKEN.glob("*.yaml")):
        try:
            composition = compose(parse_yaml(read_file_text(str(path)), str(path)))
        except YamlProblems:
            continue
        if composition.config is not None:
            configs.append(composition.config)
    assert len(configs) > 30
    for config in configs:
        assert_same_as_jsonschema(config)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-70000, 70000)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "auto", "x", "/v1/x", "http://h", "lepton", "nim", "chat", "Required", "-1"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "value",
                    "value_from",
                    "secret_name_ref",
                    "token_name_ref",
                    "name",
                    "x",
                    "port",
                    "mount_path",
                    "tcp",
                    "enabled",
                ]
            ),
            children,
            max_size=3,
        )
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


BASES = _composed_configs()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_evaluator_agrees_with_jsonschema_on_generated_variants(data):
    config = copy.deepcopy(data.draw(st.sampled_from(BASES)))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(config)[1:]))
        parent = config
        for part in path[:-1]:
            parent = parent[part]
        value = data.draw(json_values)
        if isinstance(parent, dict) and data.draw(st.booleans()):
            parent[f"{path[-1]}x"] = value  # an unknown key next to a known one
        else:
            parent[path[-1]] = value
    assert_same_as_jsonschema(config)


# -- each rule class, as the user sees it -----------------------------------------------------------


@pytest.mark.parametrize(
    "old, new, key_path, message",
    [
        # types
        (
            "    min_replicas: 1",
            "    min_replicas: one",
            "deployment.lepton_config.min_replicas",
            "must be a whole number, not a string (got 'one')",
        ),
        (
            "    endpoint_name: llama-3-1-8b",
            "    endpoint_name: [a]",
            "deployment.lepton_config.endpoint_name",
            "must be a string, not a list",
        ),
        (
            "  tasks:\n    - name: ifeval",
            "  tasks:\n    name: ifeval",
            "evaluation.tasks",
            "must be a list, not a mapping",
        ),
        # ranges
        (
            "    max_replicas: 3",
            "    max_replicas: -1",
            "deployment.lepton_config.max_replicas",
            "must be >= 0 (got -1)",
        ),
        # enums and closed objects
        (
            "  - deployment: nim\n",
            "  - deployment: nim\n\nstack_name: x\n",
            "stack_name",
            "unknown key; did you mean stack?",
        ),
        ("    mounts:\n", "    mount:\n", "deployment.lepton_config.mount", "unknown key; did you mean mounts?"),
        (
            "      enabled: true",
            "      enabled: true\n      readonly: true",
            "deployment.lepton_config.mounts.readonly",
            "unknown key under deployment.lepton_config.mounts",
        ),
    ],
)
def test_schema_rules_on_the_seed(tmp_path, old, new, key_path, message):
    errors = errors_of(seed_with(tmp_path, old, new))
    assert [(e.key_path, e.message) for e in errors] == [(key_path, message)]
    assert errors[0].line is not None and errors[0].hint != ""


@pytest.mark.parametrize(
    "settings_yaml, key_path, message",
    [
        ("deployment:\n  port: 0\n", "deployment.port", "must be >= 1 (got 0)"),
        ("deployment:\n  port: 65536\n", "deployment.port", "must be <= 65535 (got 65536)"),
        ("deployment:\n  port: autoo\n", "deployment.port", "must be a port number 1-65535 or auto (got 'autoo')"),
        (
            "deployment:\n  port: 80.5\n",
            "deployment.port",
            "must be a whole number or a string, not a number (got 80.5)",
        ),
        ("execution:\n  local:\n    readiness_timeout: -1\n", "execution.local.readiness_timeout", "must be >= 0"),
        ("execution:\n  evaluation_tasks:\n    timeout: -1\n", "execution.evaluation_tasks.timeout", "must be >= 0"),
        ("execution:\n  destroy_after: maybe\n", "execution.destroy_after", "must be true or false, not a string"),
        (
            "deployment:\n  lepton_config:\n    auto_scaler:\n      target_gpu_utilization_percentage: -1\n",
            "deployment.lepton_config.auto_scaler.target_gpu_utilization_percentage",
            "must be >= 0 (got -1)",
        ),
        (
            "deployment:\n  lepton_config:\n    auto_scaler:\n      target_throughput:\n        qpm: -0.5\n",
            "deployment.lepton_config.auto_scaler.target_throughput.qpm",
            "must be >= 0 (got -0.5)",
        ),
        (
            "deployment:\n  lepton_config:\n    auto_scaler:\n      scale_down:\n        no_traffic_timeout: -5\n",
            "deployment.lepton_config.auto_scaler.scale_down.no_traffic_timeout",
            "must be >= 0 (got -5)",
        ),
        (
            "deployment:\n  endpoints:\n    chat: v1/chat\n",
            "deployment.endpoints.chat",
            "must be a URL path starting with '/'",
        ),
        (
            "deployment:\n  type: vlm\n",
            "deployment.type",
            "must be one of: nim, vllm, sglang, generic, none, mock (got 'vlm')",
        ),
        (
            "target:\n  api_endpoint:\n    api_key_name: my-key\n",
            "target.api_endpoint.api_key_name",
            "must be an env var name such as API_KEY (got 'my-key')",
        ),
        ("evaluation:\n  tasks:\n    - name: ''\n", "evaluation.tasks.0.name", "must not be empty"),
        (
            "evaluation:\n  tasks:\n    - name: x\n      params: [1]\n",
            "evaluation.tasks.0.params",
            "must be a mapping (key: value lines), not a list",
        ),
        (
            "execution:\n  lepton_platform:\n    deployment:\n      platform_defaults:\n        ingress_timeout_seconds: 10\n",
            "execution.lepton_platform.deployment.platform_defaults.ingress_timeout_seconds",
            "must be >= 300 (got 10)",
        ),
        (
            "execution:\n  lepton_platform:\n    tasks:\n      mounts:\n        - from: node-local\n",
            "execution.lepton_platform.tasks.mounts.0.mount_path",
            "is required but missing",
        ),
    ],
)
def test_schema_rules_on_a_local_config(tmp_path, settings_yaml, key_path, message):
    errors = errors_of(write(tmp_path, LOCAL_MOCK, settings_yaml))
    assert [e.key_path for e in errors] == [key_path]
    assert message in errors[0].message


def test_enum_typo_suggests_the_close_match(tmp_path):
    [error] = errors_of(write(tmp_path, LOCAL_MOCK, "deployment:\n  type: mokc\n"))
    assert error.message.endswith("did you mean mock?")


def test_unknown_key_without_a_close_match_lists_the_allowed_keys(tmp_path):
    [error] = errors_of(write(tmp_path, LOCAL_MOCK, "execution:\n  zzz: 1\n"))
    assert error.message == "unknown key under execution"
    assert error.hint.startswith("keys allowed here: auto_export, destroy_after, endpoint_readiness_timeout")
    assert (error.line, error.column) == (6, 3)


def test_secret_values_are_never_echoed_in_schema_messages(tmp_path):
    path = write(
        tmp_path,
        LOCAL_MOCK,
        """
        deployment:
          lepton_config:
            envs:
              HF_TOKEN: [hf_supersecretvalue]
            api_tokens:
              - {value: [tok_supersecretvalue]}
        """,
    )
    text = "\n".join(p.render() for p in errors_of(path))
    assert "supersecretvalue" not in text
    assert "deployment.lepton_config.envs.HF_TOKEN: must be a string or a number or true or false or a mapping" in text


def test_schema_file_is_plain_json_with_descriptions():
    raw = json.loads(Path(SCHEMA_PATH).read_text())
    assert raw["$defs"]["leptonConfig"]["additionalProperties"] is False
    assert "description" in raw["$defs"]["port"]
