"""The Lepton deployment spec, layer by layer, and the seed example compared with what the
launcher builds for it (reference/launcher.md)."""

from __future__ import annotations

import copy
import json

import pytest

from nimctl.common.errors import ConfigError
from tests.support.stack_configs import EXPECTED_SPEC, build, seed_config

# What the launcher 0.2.6 sends for the seed's Complete Example (reference/launcher.md).
LAUNCHER_SPEC = json.loads("""
{"health":{"readiness":{},"liveness":{}},"log":{"enable_collection":true},"queue_config":{"priority_class":"mid-4000"},
 "image_pull_secrets":["..."],
 "resource_requirement":{"affinity":{"allowed_dedicated_node_groups":["<node group id>"]},"resource_shape":"gpu.1xh200",
   "min_replicas":1,"max_replicas":3},
 "auto_scaler":{"scale_down":{"no_traffic_timeout":3600}},
 "container":{"image":"nvcr.io/nim/meta/llama-3.1-8b-instruct:1.8.6","ports":[{"container_port":8000}]},
 "envs":[{"name":"HF_TOKEN","value_from":{"secret_name_ref":"HUGGING_FACE_HUB_TOKEN"}},
         {"name":"SERVED_MODEL_NAME","value":"meta/llama-3.1-8b-instruct"},{"name":"MODEL_PORT","value":"8000"},
         {"name":"NIM_MODEL_NAME","value":"meta/llama-3.1-8b-instruct"}],
 "mounts":[{"path":"/path/to/model/cache","from":"node-nfs:lepton-shared-fs","mount_path":"/opt/nim/.cache"}],
 "api_tokens":[{"value_from":{"token_name_ref":"ENDPOINT_API_KEY"}}]}
""")

# Where nimctl differs, and why that is better.
INTENDED_DIFFERENCES = {
    "queue_config": "the launcher's default is an organisation-internal priority class",
    "image_pull_secrets": "the launcher's default is an organisation-internal secret name",
}


def test_seed_endpoint_spec_is_exactly_as_expected(seed: dict) -> None:
    stack = build(seed, stack="llama-3-1-8b")
    assert stack.endpoint is not None
    assert stack.endpoint.spec == EXPECTED_SPEC
    assert list(stack.endpoint.spec) == list(EXPECTED_SPEC)  # the layers' order


@pytest.mark.parametrize("field", sorted(LAUNCHER_SPEC))
def test_seed_endpoint_matches_the_launcher_field_by_field(seed: dict, field: str) -> None:
    spec = build(seed).endpoint.spec
    launcher = copy.deepcopy(LAUNCHER_SPEC[field])
    if field in INTENDED_DIFFERENCES:
        assert field not in spec, INTENDED_DIFFERENCES[field]
    elif field == "resource_requirement":
        launcher.pop("affinity")  # the launcher's node group is an internal default; nimctl sets none
        assert spec[field] == launcher
    elif field == "auto_scaler":  # the launcher's scale-down default, plus a not-ready bound
        assert spec[field]["scale_down"] == {**launcher["scale_down"], "not_ready_timeout": 3600}
    elif field == "envs":  # same entries; nimctl orders the derived ones as the seed lists them
        assert sorted(map(json.dumps, spec[field])) == sorted(map(json.dumps, launcher))
    else:
        assert spec[field] == launcher


def test_endpoint_resource_metadata(seed: dict) -> None:
    endpoint = build(seed, stack="llama-3-1-8b", path="examples/seed.yaml").endpoint
    assert endpoint.name == "llama-3-1-8b" and endpoint.address == "endpoint.llama-3-1-8b"
    assert endpoint.platform == "lepton"
    assert endpoint.served_model_name == "meta/llama-3.1-8b-instruct"
    assert endpoint.health_path == "/v1/health/ready"
    assert endpoint.readiness_timeout_s == 1200.0
    assert endpoint.readiness_timeout_key == "execution.lepton_platform.deployment.endpoint_readiness_timeout"
    assert endpoint.probe_token is not None and endpoint.probe_token.env_var == "ENDPOINT_API_KEY"
    assert endpoint.probe_token.literal is None
    assert endpoint.source_file == "examples/seed.yaml"


def test_node_group_becomes_affinity(seed: dict) -> None:
    seed["execution"]["lepton_platform"]["deployment"]["node_group"] = "ng-123"
    requirement = build(seed).endpoint.spec["resource_requirement"]
    assert requirement == {
        "affinity": {"allowed_dedicated_node_groups": ["ng-123"]},
        "resource_shape": "gpu.1xh200",
        "min_replicas": 1,
        "max_replicas": 3,
    }


def test_platform_defaults_come_first_and_unknown_fields_are_dropped_with_a_warning(seed: dict) -> None:
    defaults = seed["execution"]["lepton_platform"]["deployment"]["platform_defaults"]
    defaults.update(
        {"queue_config": {"priority_class": "low"}, "enable_rdma": False, "image_pull_secrets": ["org-registry"]}
    )
    seed["execution"]["lepton_platform"]["tasks"]["image_pull_secrets"] = [
        "lepton-nvidia-registry-secret",
        "org-registry",
    ]
    stack = build(seed)
    spec = stack.endpoint.spec
    assert list(spec)[:3] == ["health", "log", "queue_config"]
    assert spec["queue_config"] == {"priority_class": "low"}
    assert "enable_rdma" not in spec
    assert any("enable_rdma" in w and "not a field" in w for w in stack.warnings)
    assert spec["image_pull_secrets"] == ["org-registry", "lepton-nvidia-registry-secret"]  # union, in order


def test_autoscaler_is_passed_without_scale_from_zero(seed: dict) -> None:
    seed["deployment"]["lepton_config"]["auto_scaler"] = {
        "scale_down": {"no_traffic_timeout": 3600, "scale_from_zero": False},
        "target_gpu_utilization_percentage": 0,
        "target_throughput": {"qpm": 2.5},
    }
    assert build(seed).endpoint.spec["auto_scaler"] == {
        "scale_down": {"no_traffic_timeout": 3600, "not_ready_timeout": 3600},
        "target_gpu_utilization_percentage": 0,
        "target_throughput": {"qpm": 2.5},
    }


def test_autoscaler_with_only_scale_from_zero_gets_the_default_bound(seed: dict) -> None:
    seed["deployment"]["lepton_config"]["auto_scaler"] = {"scale_down": {"scale_from_zero": True}}
    assert build(seed).endpoint.spec["auto_scaler"] == {
        "scale_down": {"no_traffic_timeout": 3600, "not_ready_timeout": 3600}
    }


def test_the_users_scale_down_wins_and_zero_means_off(seed: dict) -> None:
    seed["deployment"]["lepton_config"]["auto_scaler"] = {"scale_down": {"no_traffic_timeout": 0}}
    assert build(seed).endpoint.spec["auto_scaler"]["scale_down"] == {
        "no_traffic_timeout": 0,
        "not_ready_timeout": 3600,
    }
    seed["deployment"]["lepton_config"]["auto_scaler"] = {"scale_down": {"not_ready_timeout": 120}}
    assert build(seed).endpoint.spec["auto_scaler"]["scale_down"] == {
        "no_traffic_timeout": 3600,
        "not_ready_timeout": 120,
    }


def test_not_ready_bound_is_never_shorter_than_nimctls_readiness_wait(seed: dict) -> None:
    seed["execution"]["lepton_platform"]["deployment"]["endpoint_readiness_timeout"] = 5400
    assert build(seed).endpoint.spec["auto_scaler"]["scale_down"]["not_ready_timeout"] == 5400


def test_platform_defaults_scale_down_is_kept(seed: dict) -> None:
    seed["execution"]["lepton_platform"]["deployment"]["platform_defaults"]["auto_scaler"] = {
        "scale_down": {"no_traffic_timeout": 1800}
    }
    assert build(seed).endpoint.spec["auto_scaler"]["scale_down"]["no_traffic_timeout"] == 1800


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, (1, 1)),
        ({"max_replicas": 4}, (1, 4)),
        ({"min_replicas": 2}, (2, 2)),
        ({"min_replicas": 0, "max_replicas": 0}, (0, 0)),
    ],
)
def test_both_replica_bounds_are_always_sent(seed: dict, given: dict, expected: tuple) -> None:
    config = seed["deployment"]["lepton_config"]
    config.pop("min_replicas")
    config.pop("max_replicas")
    config.update(given)
    requirement = build(seed).endpoint.spec["resource_requirement"]
    assert (requirement["min_replicas"], requirement["max_replicas"]) == expected


def test_min_above_max_is_an_error(seed: dict) -> None:
    seed["deployment"]["lepton_config"].update(min_replicas=3, max_replicas=1)
    with pytest.raises(ConfigError, match="max_replicas"):
        build(seed)


def test_user_envs_keep_their_form_and_override_derived_ones(seed: dict) -> None:
    seed["deployment"]["lepton_config"]["envs"] = {
        "NIM_MAX_MODEL_LEN": 8192,
        "NIM_ENABLE": True,
        "MODEL_PORT": "9000",
        "NGC_API_KEY": {"value_from": {"secret_name_ref": "NGC_KEY"}},
    }
    envs = build(seed).endpoint.spec["envs"]
    assert envs == [
        {"name": "NIM_MAX_MODEL_LEN", "value": "8192"},
        {"name": "NIM_ENABLE", "value": "true"},
        {"name": "MODEL_PORT", "value": "9000"},
        {"name": "NGC_API_KEY", "value_from": {"secret_name_ref": "NGC_KEY"}},
        {"name": "SERVED_MODEL_NAME", "value": "meta/llama-3.1-8b-instruct"},
        {"name": "NIM_MODEL_NAME", "value": "meta/llama-3.1-8b-instruct"},
    ]


def test_cache_mount_takes_its_source_from_the_first_task_mount(seed: dict) -> None:
    seed["execution"]["lepton_platform"]["tasks"]["mounts"] = [
        {"from": "node-nfs:team-fs", "path": "/ws", "mount_path": "/workspace"},
        {"from": "node-nfs:other", "path": "/x", "mount_path": "/x"},
    ]
    assert build(seed).endpoint.spec["mounts"][0]["from"] == "node-nfs:team-fs"


def test_disabled_mounts_are_left_out(seed: dict) -> None:
    seed["deployment"]["lepton_config"]["mounts"]["enabled"] = False
    assert "mounts" not in build(seed).endpoint.spec


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        (["plain-token"], [{"value": "plain-token"}]),
        (
            [{"value": "v1"}, {"value_from": {"token_name_ref": "T"}}],
            [{"value": "v1"}, {"value_from": {"token_name_ref": "T"}}],
        ),
    ],
)
def test_api_token_forms(seed: dict, tokens: list, expected: list) -> None:
    seed["deployment"]["lepton_config"]["api_tokens"] = tokens
    endpoint = build(seed).endpoint
    assert endpoint.spec["api_tokens"] == expected
    assert endpoint.probe_token is not None and endpoint.probe_token.literal == expected[0]["value"]


def test_vllm_command_is_an_argv_and_port_placeholders_are_filled(seed: dict) -> None:
    seed["deployment"] = {
        "type": "vllm",
        "image": "vllm/vllm-openai:v0.6.0",
        "checkpoint_path": "meta-llama/Llama-3.1-8B-Instruct",
        "served_model_name": "llama",
        "port": 8080,
        "endpoints": {"health": "/health"},
        "command": "vllm serve meta-llama/Llama-3.1-8B-Instruct --port {port} --served-model-name 'llama'",
        "lepton_config": {"resource_shape": "gpu.1xh200", "endpoint_name": "vllm-llama"},
    }
    endpoint = build(seed).endpoint
    assert endpoint.spec["container"] == {
        "image": "vllm/vllm-openai:v0.6.0",
        "ports": [{"container_port": 8080}],
        "command": [
            "vllm",
            "serve",
            "meta-llama/Llama-3.1-8B-Instruct",
            "--port",
            "8080",
            "--served-model-name",
            "llama",
        ],
    }
    assert endpoint.health_path == "/health"
    assert [e["name"] for e in endpoint.spec["envs"]] == ["SERVED_MODEL_NAME", "MODEL_PORT"]  # no NIM_*


def test_vllm_without_command_gets_a_derived_one(seed: dict) -> None:
    seed["deployment"] = {
        "type": "vllm",
        "image": "vllm/vllm-openai:v0.6.0",
        "checkpoint_path": "/models/llama",
        "served_model_name": "llama",
        "port": 8000,
        "tensor_parallel_size": 2,
        "extra_args": "--max-model-len 4096",
        "lepton_config": {"resource_shape": "gpu.2xh200"},
    }
    command = build(seed).endpoint.spec["container"]["command"]
    assert command == [
        "vllm",
        "serve",
        "/models/llama",
        "--tensor-parallel-size=2",
        "--pipeline-parallel-size=1",
        "--data-parallel-size=1",
        "--port=8000",
        "--served-model-name=llama",
        "--max-model-len",
        "4096",
    ]


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda c: c["deployment"]["lepton_config"].pop("resource_shape"), "resource_shape"),
        (lambda c: c["deployment"].pop("image"), "deployment.image"),
        (lambda c: c["deployment"].update(port="auto"), "deployment.port"),
        (lambda c: c["deployment"].update(type="mock"), "deployment.type"),
        (lambda c: c["deployment"]["lepton_config"]["mounts"].pop("cache_path"), "cache_path"),
    ],
)
def test_lepton_endpoint_errors_name_the_key(mutate, key: str) -> None:
    config = seed_config()
    mutate(config)
    with pytest.raises(ConfigError) as caught:
        build(config)
    assert any(key in p.key_path for p in caught.value.problems)


def test_deployment_none_has_no_endpoint(seed: dict) -> None:
    seed["deployment"] = {"type": "none"}
    seed["target"] = {
        "api_endpoint": {
            "url": "https://integrate.api.nvidia.com/v1/chat/completions",
            "model_id": "meta/llama-3.1-8b-instruct",
        }
    }
    stack = build(seed)
    assert stack.endpoint is None
    assert stack.jobs[0].endpoint is None
    assert stack.jobs[0].target_url == "https://integrate.api.nvidia.com/v1/chat/completions"
